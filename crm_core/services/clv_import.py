"""`crm-bot import orders|touchpoints FILE`: a CSV/XLSX of orders or touchpoints (Chinese or
English headers), checked whole by crm_core/services/clv_input.py and stored in one transaction:
one bad row and nothing is written (its line number and reason are reported); a file imported
again changes nothing (idempotent by source + external id)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from crm_core.db import Database
from crm_core.services.clv_input import StoreResult, ingest
from crm_core.services.import_rows import ImportFileError, cell_text, header_key, table_rows

HEADERS = {
    "orders": {
        "customer_id": "客户编号 客户id 客户 customer customerid",
        "external_id": "订单号 订单编号 订单id externalid orderid orderno id",
        "amount": "金额 订单金额 实付金额 amount total",
        "gross_margin": "毛利 毛利额 毛利润 grossmargin margin",
        "ordered_at": "下单时间 订单时间 时间 日期 orderedat orderdate date time",
        "channel": "渠道 来源 下单渠道 channel source",
        "fraud": "欺诈 欺诈标记 是否欺诈 fraud isfraud",
    },
    "touchpoints": {
        "customer_id": "客户编号 客户id 客户 customer customerid",
        "external_id": "触点编号 编号 触点id externalid touchpointid id",
        "kind": "类型 触点类型 kind type",
        "channel": "渠道 来源 channel source",
        "at": "时间 日期 发生时间 at time date",
        "clv_impact": "影响客户价值 影响价值 clvimpact",
        "winback_probability": "挽回概率 winbackprobability winback",
        "note": "备注 说明 note notes",
    },
}
REQUIRED = {"orders": ("customer_id", "external_id", "amount", "gross_margin", "ordered_at", "channel"),
            "touchpoints": ("customer_id", "external_id", "kind", "channel", "at")}
NAMES = {"customer_id": "客户编号", "external_id": "编号", "amount": "金额", "gross_margin": "毛利",
         "ordered_at": "下单时间", "channel": "渠道", "kind": "类型", "at": "时间"}


def read_records(what: str, path: str | Path) -> tuple[list[dict[str, Any]], list[int]]:
    """(records, their line numbers) of a file; ImportFileError when the file can't be used."""
    _encoding, rows = table_rows(path)
    aliases = {alias: name for name, words in HEADERS[what].items() for alias in words.split()}
    mapping: dict[int, str] | None = None
    records, lines = [], []
    for line, values in rows:
        if mapping is None:
            if not any(cell_text(v) for v in values):
                continue
            mapping = {}
            for pos, name in enumerate(values):
                field = aliases.get(header_key(name))
                if field and field not in mapping.values():
                    mapping[pos] = field
            missing = [NAMES[f] for f in REQUIRED[what] if f not in mapping.values()]
            if missing:
                raise ImportFileError(f"表头缺少这些列:{'、'.join(missing)}")
            continue
        record = {f: cell_text(values[i]) if i < len(values) else "" for i, f in mapping.items()}
        if any(record.values()):
            records.append(record)
            lines.append(line)
    if mapping is None:
        raise ImportFileError("文件是空的:没有表头")
    return records, lines


def import_clv_file(db: Database, what: str, path: str | Path, source: str, tz: str, now: datetime) -> StoreResult:
    """One transaction; BatchInvalid (problems by line number) leaves the database untouched."""
    records, lines = read_records(what, path)
    with db.uow() as s:
        return ingest(s, what, records, source, tz, now, lines, limit=None)
