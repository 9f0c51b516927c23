"""Bulk attribution: every non-fraud order's gross margin credited to the touchpoints of the
`window_days` before it, under all four models at once (crm_core/clv/attribution.py defines
them and the window edges; this is the same arithmetic in numpy, tested to agree with it).

One pass over the customers in id order, in chunks of about CHUNK_ORDERS orders: per chunk three
range reads on the (customer_id, time) indexes — orders, touchpoints, the chat activities that
count as touchpoints (CHAT_TOUCH_KINDS: read where they are stored, never copied, so never
counted twice) — through the raw driver cursor into numpy structured arrays, with times as epoch
seconds computed by the database (no datetime objects, no per-row Python objects but the
tuples), one numpy sort of the chunk's touchpoints by (customer, time) (no ORDER BY: the
database need not sort), then two binary searches per order give its window. Bounded memory
without server-side cursors: a chunk is one short read. Credits are summed per month of the order (business time zone), channel and model
and written in one short transaction at the end (the table is small: months × channels × 4), so
readers and the bot's writes never wait on the minutes of computing. Resolution: one second."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import delete, insert, text
from sqlalchemy.engine import Connection

from crm_core.config.clv import Clv
from crm_core.db import Database
from crm_core.db.models import AttributionCredit

CHUNK_ORDERS = 200_000
CHAT_TOUCH_KINDS = ("follow_up", "voice_note", "call", "visit")   # chat activities that are touchpoints
CHAT_CHANNEL = "sales"
_CUST_SHIFT = 34                  # key = customer << 34 | (2 * epoch seconds + is_order)
_MAX_CHANNELS = 4096


@dataclass
class AttributionRun:
    orders: int = 0
    unattributed: int = 0          # orders without a touchpoint in the window (own channel)
    touchpoints: int = 0           # touchpoints + chat activities + orders read as touchpoints
    margin: float = 0.0
    rows: int = 0                  # attribution_credits rows written
    seconds: float = 0.0
    read_seconds: float = 0.0
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)   # model → channel → margin

    def line(self) -> str:
        return (f"{self.orders:,} orders, {self.touchpoints:,} touchpoints, {self.unattributed:,} without a "
                f"touchpoint, margin {self.margin:,.0f}: {self.seconds:.1f} s (reading {self.read_seconds:.1f} s)")


def _epoch(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def _chunks(conn: Connection, chunk_orders: int) -> list[tuple[int, int]]:
    """Customer id ranges [lo, hi] holding about `chunk_orders` non-fraud orders each."""
    counts = conn.execute(text("SELECT customer_id, COUNT(*) FROM orders WHERE is_fraud = :f "
                               "GROUP BY customer_id ORDER BY customer_id"), {"f": False}).all()
    out, lo, acc = [], None, 0
    for cid, n in counts:
        lo = cid if lo is None else lo
        acc += n
        if acc >= chunk_orders:
            out.append((lo, cid))
            lo, acc = None, 0
    if lo is not None:
        out.append((lo, counts[-1][0]))
    return out


class _Months:
    """Month index (year * 12 + month - 1) of epoch seconds in the business time zone."""

    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self.first, self.last = 0, -1
        self.bounds = np.zeros(0, dtype=np.int64)

    def _month(self, seconds: int) -> int:
        local = datetime.fromtimestamp(seconds, self.zone)
        return local.year * 12 + local.month - 1

    def index(self, seconds: np.ndarray) -> np.ndarray:
        if seconds.size == 0:
            return seconds.astype(np.int64)
        first, last = self._month(int(seconds.min())), self._month(int(seconds.max()))
        if first < self.first or last > self.last:
            if self.last >= self.first:
                first, last = min(first, self.first), max(last, self.last)
            self.first, self.last = first, last
            self.bounds = np.array([int(datetime(m // 12, m % 12 + 1, 1, tzinfo=self.zone).timestamp())
                                    for m in range(first, last + 1)], dtype=np.int64)
        return np.searchsorted(self.bounds, seconds, side="right") - 1 + self.first


class _Channels:
    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, names: Any) -> np.ndarray:
        codes = self.codes
        return np.fromiter((codes.setdefault(n, len(codes)) for n in names), dtype=np.int64)

    def names(self) -> list[str]:
        return list(self.codes)


def _fetch(cursor: Any, sql: str, dtype: list[tuple[str, str]]) -> np.ndarray:
    """Rows of a raw driver cursor as a structured array (built in C from the driver's tuples)."""
    cursor.execute(sql)
    rows = cursor.fetchall()
    return np.array(rows, dtype=dtype) if rows else np.zeros(0, dtype=dtype)


def _read_chunk(conn: Connection, lo: int, hi: int, channels: _Channels) -> tuple[dict[str, np.ndarray], ...]:
    """The chunk's non-fraud orders and its touchpoints (touchpoints + chat activities), unsorted:
    the raw driver cursor and integer bounds written into the SQL (no per-row wrapping)."""
    d = conn.dialect.name
    where = f"customer_id BETWEEN {int(lo)} AND {int(hi)}"
    kinds = ", ".join(f"'{k}'" for k in CHAT_TOUCH_KINDS)
    cur = conn.connection.dbapi_connection.cursor()      # type: ignore[union-attr]
    try:
        o = _fetch(cur, f"SELECT customer_id, {_epoch(d, 'ordered_at')}, gross_margin, channel FROM orders "
                        f"WHERE {where} AND is_fraud = FALSE",
                   [("cust", "i8"), ("t", "i8"), ("margin", "f8"), ("chan", "O")])
        t = _fetch(cur, f"SELECT customer_id, {_epoch(d, 'at')}, channel FROM touchpoints WHERE {where}",
                   [("cust", "i8"), ("t", "i8"), ("chan", "O")])
        c = _fetch(cur, f"SELECT customer_id, {_epoch(d, 'created_at')} FROM activities "
                        f"WHERE {where} AND kind IN ({kinds})", [("cust", "i8"), ("t", "i8")])
    finally:
        cur.close()
    chat = channels.encode([CHAT_CHANNEL])[0]
    return ({"cust": o["cust"], "t": o["t"], "margin": o["margin"], "chan": channels.encode(o["chan"])},
            {"cust": np.concatenate([t["cust"], c["cust"]]), "t": np.concatenate([t["t"], c["t"]]),
             "chan": np.concatenate([channels.encode(t["chan"]), np.full(len(c), chat, dtype=np.int64)])})


Piece = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
LINEAR_PIECE = 2_000_000      # linear credits expanded at once (orders × touchpoints in their windows)


def credit_arrays(orders: dict[str, np.ndarray], touches: dict[str, np.ndarray], window_seconds: int,
                  mix_last: float, mix_first: float) -> tuple[Iterator[tuple[str, Piece]], int]:
    """(model, (order index, channel code, margin credited, share of the order)) pieces for the
    orders given — linear in pieces of about LINEAR_PIECE credits, so a customer with thousands
    of orders and touchpoints does not need memory for all their pairs at once — and how many
    orders had no touchpoint in the window (credited to their own channel). The orders themselves
    join the touchpoints (only strictly earlier ones count: key 2t + 1)."""
    cust = np.concatenate([touches["cust"], orders["cust"]])
    t2 = np.concatenate([touches["t"] * 2, orders["t"] * 2 + 1])
    chan = np.concatenate([touches["chan"], orders["chan"]])
    key = (cust << _CUST_SHIFT) | t2
    order_by = np.argsort(key, kind="stable")
    key, chan = key[order_by], chan[order_by]
    base = orders["cust"] << _CUST_SHIFT
    lo = np.searchsorted(key, base | (np.maximum(orders["t"] - window_seconds, 0) * 2), side="left")
    hi = np.searchsorted(key, base | (orders["t"] * 2), side="right")
    n = hi - lo
    has = n > 0
    idx = np.arange(len(n))
    margin = orders["margin"]
    none_i, none_c, none_m = idx[~has], orders["chan"][~has], margin[~has]
    none_s = np.ones(len(none_i))
    lo_h, n_h, m_h, o_h = lo[has], n[has], margin[has], idx[has]

    def pieces() -> Iterator[tuple[str, Piece]]:
        first_c, last_c = chan[lo_h], chan[hi[has] - 1]
        ones = np.ones(len(o_h))
        yield "first_touch", (np.concatenate([o_h, none_i]), np.concatenate([first_c, none_c]),
                              np.concatenate([m_h, none_m]), np.concatenate([ones, none_s]))
        yield "last_touch", (np.concatenate([o_h, none_i]), np.concatenate([last_c, none_c]),
                             np.concatenate([m_h, none_m]), np.concatenate([ones, none_s]))
        yield "mix", (np.concatenate([o_h, o_h, none_i]), np.concatenate([last_c, first_c, none_c]),
                      np.concatenate([m_h * mix_last, m_h * mix_first, none_m]),
                      np.concatenate([ones * mix_last, ones * mix_first, none_s]))
        yield "linear", (none_i, none_c, none_m, none_s)
        ends = np.cumsum(n_h)
        cuts = [0, *np.searchsorted(ends, np.arange(LINEAR_PIECE, int(ends[-1]) if len(ends) else 0,
                                                    LINEAR_PIECE), side="right").tolist(), len(n_h)]
        for a, b in zip(cuts, cuts[1:]):
            if a >= b:
                continue
            lo_p, n_p = lo_h[a:b], n_h[a:b]
            total = int(n_p.sum())
            position = np.repeat(lo_p - (np.cumsum(n_p) - n_p), n_p) + np.arange(total)
            share = np.repeat(1.0 / n_p, n_p)
            yield "linear", (np.repeat(o_h[a:b], n_p), chan[position], np.repeat(m_h[a:b], n_p) * share, share)

    return pieces(), int(len(none_i))


def run_attribution(db: Database, clv: Clv, tz: str, now: datetime, *,
                    chunk_orders: int = CHUNK_ORDERS) -> AttributionRun:
    """Recompute every month's credits (all models) and replace the table's rows."""
    started = time.perf_counter()
    run = AttributionRun()
    channels, months = _Channels(), _Months(tz)
    window = clv.window_days * 86400
    sums: dict[tuple[str, int, int], list[float]] = {}
    with db.engine.connect() as conn:
        for lo, hi in _chunks(conn, chunk_orders):
            t0 = time.perf_counter()
            orders, touches = _read_chunk(conn, lo, hi, channels)
            run.read_seconds += time.perf_counter() - t0
            run.orders += len(orders["t"])
            run.touchpoints += len(touches["t"]) + len(orders["t"])
            run.margin += float(orders["margin"].sum())
            month = months.index(orders["t"])
            credits, unattributed = credit_arrays(orders, touches, window, clv.mix_last, clv.mix_first)
            run.unattributed += unattributed
            for model, (oi, ch, m, share) in credits:
                _accumulate(sums, model, month[oi], ch, m, share)
        conn.rollback()
    names = channels.names()
    rows = [{"month": date(mi // 12, mi % 12 + 1, 1), "channel": names[code], "model": model,
             "margin": v[0], "orders": v[1], "computed_at": now}
            for (model, mi, code), v in sorted(sums.items())]
    with db.uow() as s:
        s.execute(delete(AttributionCredit))
        if rows:
            s.execute(insert(AttributionCredit), rows)
    run.rows = len(rows)
    for (model, _month, code), v in sums.items():
        per = run.by_model.setdefault(model, {})
        per[names[code]] = per.get(names[code], 0.0) + v[0]
    run.seconds = time.perf_counter() - started
    return run


def _accumulate(sums: dict[tuple[str, int, int], list[float]], model: str, month: np.ndarray, chan: np.ndarray,
                margin: np.ndarray, share: np.ndarray) -> None:
    """Add the (month, channel) sums of credited margin and order shares into `sums`."""
    if month.size == 0:
        return
    first = int(month.min())
    key = (month.astype(np.int64) - first) * _MAX_CHANNELS + chan
    present = np.flatnonzero(np.bincount(key))
    m = np.bincount(key, weights=margin)[present]
    counts = np.bincount(key, weights=share)[present]
    for k, mv, cv in zip(present.tolist(), m.tolist(), counts.tolist()):
        cell = sums.setdefault((model, first + k // _MAX_CHANNELS, k % _MAX_CHANNELS), [0.0, 0.0])
        cell[0] += mv
        cell[1] += cv
