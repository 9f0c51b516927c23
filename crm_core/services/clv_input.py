"""Orders and touchpoints coming in (POST /api/v1/orders, /api/v1/touchpoints, `crm-bot import
orders|touchpoints FILE`): every record checked with Chinese reasons per field, the whole batch
refused when one is bad (nothing half-written), then stored idempotently by (source, external
id): a record seen before is updated where it changed (a fraud flag set later takes effect),
never stored twice. A customer merged into another is recorded on the survivor.

Touchpoint kinds: TOUCH_KINDS. Orders are not sent as touchpoints: each order is a touchpoint of
the later ones by itself (crm_core/clv/attribution.py), and chat activities are read where they
are stored, so nothing is counted twice."""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from crm_core.config.clv import TOUCH_CHANNELS
from crm_core.db.models import Customer, Order, Touchpoint

TOUCH_KINDS = {"ad_click": "广告点击", "service_chat": "客服会话", "service_ticket": "客服工单", "visit": "到访",
               "call": "电话", "campaign": "营销活动"}
SERVICE_KINDS = ("service_chat", "service_ticket")
MAX_BATCH = 5000
MAX_AMOUNT = 1e12
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
SOURCE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,50}$")
TRUE = {"1", "true", "yes", "y", "是", "对", "真"}
FALSE = {"0", "false", "no", "n", "否", "", "假"}
_CH_BY_LABEL = {label: code for code, label in TOUCH_CHANNELS.items()}
_KIND_BY_LABEL = {label: code for code, label in TOUCH_KINDS.items()}
ORDER_LABELS = {"customer_id": "客户", "external_id": "订单号", "amount": "金额", "gross_margin": "毛利",
                "ordered_at": "下单时间", "channel": "渠道", "fraud": "欺诈标记"}
TOUCH_LABELS = {"customer_id": "客户", "external_id": "触点编号", "kind": "类型", "channel": "渠道", "at": "时间",
                "clv_impact": "影响客户价值", "winback_probability": "挽回概率", "note": "备注"}


@dataclass(frozen=True)
class Problem:
    index: int                  # the record's position (0-based) or the file's line number
    field: str
    reason: str                 # Chinese


class BatchInvalid(ValueError):
    """Some records are invalid; nothing was written."""

    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} 处问题,未写入任何记录")
        self.problems = problems


@dataclass
class StoreResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    moved_to_survivor: int = 0      # records of a merged customer stored on the one it joined
    ids: list[int] = field(default_factory=list)


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _customer_id(v: Any) -> int:
    s = _text(v).upper().removeprefix("客户").removeprefix("C")
    if isinstance(v, bool) or not s.isdigit() or int(s) <= 0:
        raise ValueError("应为客户编号,例如 12 或 C12")
    return int(s)


def _number(v: Any, *, allow_negative: bool = False) -> float:
    if isinstance(v, bool):
        raise ValueError("应为数字")
    s = _text(v).replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥").removesuffix("元").strip()
    try:
        x = float(s)
    except ValueError:
        raise ValueError("应为数字,例如 1280.50") from None
    if not math.isfinite(x) or abs(x) > MAX_AMOUNT:
        raise ValueError("数字超出范围")
    if x < 0 and not allow_negative:
        raise ValueError("不能是负数")
    return round(x, 2)


def _when(v: Any, tz: str, now: datetime) -> datetime:
    if isinstance(v, datetime):
        at = v
    else:
        s = _text(v).replace("/", "-")
        if not s:
            raise ValueError("不能为空")
        try:
            at = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("格式应为 2026-11-20 14:30 或 2026-11-20T14:30:00+08:00") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(tz))
    at = at.astimezone(timezone.utc)
    if at < EARLIEST:
        raise ValueError("早于 2000 年")
    if at > now + timedelta(days=1):
        raise ValueError("在未来")
    return at


def _flag(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = _text(v).lower()
    if s in TRUE:
        return True
    if s in FALSE:
        return False
    raise ValueError("应为 是/否(true/false)")


def _channel(v: Any) -> str:
    s = _text(v)
    code = s if s in TOUCH_CHANNELS else _CH_BY_LABEL.get(s)
    if code is None:
        raise ValueError(f"「{s}」不是可用的渠道,可用:" + "、".join(f"{label}({c})" for c, label in TOUCH_CHANNELS.items()))
    return code


def _external_id(v: Any) -> str:
    s = _text(v)
    if not s:
        raise ValueError("不能为空(用于去重,重复导入不会重复记录)")
    if len(s) > 100:
        raise ValueError("过长(超过 100 个字符)")
    return s


def _probability(v: Any) -> float | None:
    s = _text(v)
    if not s:
        return None
    pct = s.endswith("%")
    x = _number(s.rstrip("%"))
    x = x / 100 if pct else x
    if not 0 <= x <= 1:
        raise ValueError("应在 0 到 1 之间(或 0% 到 100%)")
    return x


def _collect(raw: dict[str, Any], checks: dict[str, Any], labels: dict[str, str], index: int,
             problems: list[Problem]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    bad = False
    unknown = [k for k in raw if k not in labels]
    for k in unknown:
        problems.append(Problem(index, k, "不认识的字段"))
        bad = True
    for name, check in checks.items():
        try:
            out[name] = check(raw.get(name))
        except ValueError as err:
            problems.append(Problem(index, name, f"{labels[name]}{err}"))
            bad = True
    return None if bad else out


def check_orders(records: Sequence[dict[str, Any]], tz: str, now: datetime,
                 index_of: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Valid order rows, or BatchInvalid with every problem."""
    problems: list[Problem] = []
    rows = []
    for pos, raw in enumerate(records):
        i = index_of[pos] if index_of else pos
        if not isinstance(raw, dict):
            problems.append(Problem(i, "", "每条订单应为一个对象"))
            continue
        row = _collect(raw, {
            "customer_id": _customer_id, "external_id": _external_id, "amount": _number,
            "gross_margin": lambda v: _number(v, allow_negative=True), "ordered_at": lambda v: _when(v, tz, now),
            "channel": _channel, "fraud": _flag}, ORDER_LABELS, i, problems)
        if row is not None and row["gross_margin"] > row["amount"]:
            problems.append(Problem(i, "gross_margin", "毛利不能大于金额"))
            continue
        if row is not None:
            rows.append({**row, "_index": i})
    _no_repeats(rows, problems, "订单号")
    if problems:
        raise BatchInvalid(problems)
    return rows


def check_touchpoints(records: Sequence[dict[str, Any]], tz: str, now: datetime,
                      index_of: Sequence[int] | None = None) -> list[dict[str, Any]]:
    problems: list[Problem] = []
    rows = []

    def kind(v: Any) -> str:
        s = _text(v)
        if s in ("order", "订单"):
            raise ValueError("不能是订单:订单请用订单接口或 import orders 录入,每笔订单会自动算作后续订单的触点")
        code = s if s in TOUCH_KINDS else _KIND_BY_LABEL.get(s)
        if code is None:
            raise ValueError(f"「{s}」不是可用的类型,可用:" + "、".join(f"{label}({c})" for c, label in TOUCH_KINDS.items()))
        return code

    def note(v: Any) -> str | None:
        s = _text(v)
        if len(s) > 500:
            raise ValueError("过长(超过 500 个字)")
        return s or None

    for pos, raw in enumerate(records):
        i = index_of[pos] if index_of else pos
        if not isinstance(raw, dict):
            problems.append(Problem(i, "", "每个触点应为一个对象"))
            continue
        row = _collect(raw, {"customer_id": _customer_id, "external_id": _external_id, "kind": kind,
                             "channel": _channel, "at": lambda v: _when(v, tz, now), "clv_impact": _flag,
                             "winback_probability": _probability, "note": note}, TOUCH_LABELS, i, problems)
        if row is None:
            continue
        if (row["clv_impact"] or row["winback_probability"] is not None) and row["kind"] not in SERVICE_KINDS:
            problems.append(Problem(i, "clv_impact", "只有客服会话或客服工单可以标记影响客户价值、填写挽回概率"))
            continue
        rows.append({**row, "_index": i})
    _no_repeats(rows, problems, "触点编号")
    if problems:
        raise BatchInvalid(problems)
    return rows


def _no_repeats(rows: list[dict[str, Any]], problems: list[Problem], label: str) -> None:
    seen: dict[str, int] = {}
    for row in rows:
        first = seen.setdefault(row["external_id"], row["_index"])
        if first != row["_index"]:
            problems.append(Problem(row["_index"], "external_id", f"{label}「{row['external_id']}」与第 {first} 条重复"))


def _resolve_customers(session: Session, rows: list[dict[str, Any]]) -> tuple[dict[int, int], list[Problem]]:
    """customer id given → the id to store on (a merged customer's survivor), and the unknown ones."""
    wanted = {r["customer_id"] for r in rows}
    found: dict[int, tuple[str, int | None]] = {}
    ids = list(wanted)
    for i in range(0, len(ids), 900):
        for cid, status, into in session.execute(select(Customer.id, Customer.status, Customer.merged_into_id)
                                                 .where(Customer.id.in_(ids[i:i + 900]))):
            found[cid] = (status, into)
    target: dict[int, int] = {}
    for cid in wanted:
        cur, hops = cid, 0
        while cur in found and found[cur][0] == "merged" and hops < 10:
            nxt = found[cur][1]
            if nxt is None:
                break
            if nxt not in found:
                found[nxt] = session.execute(select(Customer.status, Customer.merged_into_id)
                                             .where(Customer.id == nxt)).one()._tuple()
            cur, hops = nxt, hops + 1
        if cid in found:
            target[cid] = cur
    problems = [Problem(r["_index"], "customer_id", f"客户C{r['customer_id']} 不存在")
                for r in rows if r["customer_id"] not in target]
    return target, problems


def _store(session: Session, model: type[Order] | type[Touchpoint], rows: list[dict[str, Any]], source: str,
           fields: Iterable[str], now: datetime) -> StoreResult:
    if not SOURCE_RE.match(source or ""):
        raise BatchInvalid([Problem(0, "source", "来源应为 1–50 个字母、数字、下划线、点或连字符")])
    target, problems = _resolve_customers(session, rows)
    if problems:
        raise BatchInvalid(problems)
    result = StoreResult()
    existing: dict[str, Any] = {}
    keys = [r["external_id"] for r in rows]
    source_col, external_col = model.__table__.c.source, model.__table__.c.external_id
    for i in range(0, len(keys), 900):
        for obj in session.scalars(select(model).where(source_col == source, external_col.in_(keys[i:i + 900]))):
            existing[getattr(obj, "external_id")] = obj
    fresh, changes = [], []
    names = list(fields)
    for r in rows:
        values = {n: r[n] for n in names}
        values["customer_id"] = target[r["customer_id"]]
        result.moved_to_survivor += values["customer_id"] != r["customer_id"]
        old = existing.get(r["external_id"])
        if old is None:
            fresh.append({**values, "source": source, "external_id": r["external_id"], "created_at": now})
        elif any(getattr(old, n) != v for n, v in values.items()):
            changes.append({"id": old.id, **values})
        else:
            result.unchanged += 1
    if fresh:
        session.execute(insert(model), fresh)
    if changes:
        session.execute(update(model), changes)
    result.created, result.updated = len(fresh), len(changes)
    return result


def store_orders(session: Session, rows: list[dict[str, Any]], source: str, now: datetime) -> StoreResult:
    rows = [{**r, "is_fraud": r["fraud"]} for r in rows]
    return _store(session, Order, rows, source,
                  ("customer_id", "amount", "gross_margin", "ordered_at", "channel", "is_fraud"), now)


def store_touchpoints(session: Session, rows: list[dict[str, Any]], source: str, now: datetime) -> StoreResult:
    return _store(session, Touchpoint, rows, source,
                  ("customer_id", "kind", "channel", "at", "clv_impact", "winback_probability", "note"), now)


def ingest(session: Session, what: str, records: Sequence[dict[str, Any]], source: str, tz: str, now: datetime,
           index_of: Sequence[int] | None = None, *, limit: int | None = MAX_BATCH) -> StoreResult:
    """Check then store a batch of "orders" or "touchpoints" (BatchInvalid: nothing written)."""
    if limit is not None and len(records) > limit:
        raise BatchInvalid([Problem(0, "", f"一批最多 {MAX_BATCH} 条,收到 {len(records)} 条")])
    if what == "orders":
        return store_orders(session, check_orders(records, tz, now, index_of), source, now)
    return store_touchpoints(session, check_touchpoints(records, tz, now, index_of), source, now)

