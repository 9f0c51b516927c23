"""CLV attribution speed (issue 18): 1,000,000 orders and 10,000,000 touchpoints over 100,000
customers (3 years), attributed under all four models in one pass (crm_core/services/clv_attribution.py)
on SQLite and PostgreSQL — minutes, not hours, on the 2-core machine. Data generation (numpy, then
the raw driver: executemany on SQLite, COPY on PostgreSQL; indexes built after the load) is timed
separately. Prints one line per backend.

    python -m bench.clv [--orders 1000000] [--touchpoints 10000000] [--customers 100000]
                        [--backend sqlite|postgres|both] [--database-url URL]

--database-url: run on that (empty, migrated here) database instead of a throw-away one.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere
from crm_core.config.clv import Clv
from crm_core.db import Database
from crm_core.db.migrate import upgrade
from crm_core.db.scratch import scratch_postgres
from crm_core.services.clv_attribution import run_attribution
from crm_core.services.clv_value import compute_snapshots

PG_ADMIN_URL = os.environ.get("CRM_BOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
SPAN = 3 * 365 * 86400
NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)
CHANNELS = np.array(["ads", "search", "email", "social", "web_form", "expo", "referral", "service", "sms", "campaign"])
KINDS = np.array(["ad_click", "ad_click", "campaign", "service_chat", "ad_click", "visit", "call", "service_chat",
                  "campaign", "campaign"])
ORDER_CHANNELS = np.array(["direct", "store", "web_form", "sales"])
BATCH = 200_000
INDEXES = {   # dropped for the load, built after it (part of the generation time)
    "orders": ["ix_orders_customer_at", "ix_orders_ordered_at"],
    "touchpoints": ["ix_touchpoints_customer_at"],
}


def _times(rnd: np.random.Generator, cust: np.ndarray) -> np.ndarray:
    """Epoch seconds, sorted within each customer (rows come out in (customer, time) order)."""
    t = START + rnd.integers(0, SPAN, size=len(cust))
    order = np.lexsort((t, cust))
    return t[order]


def _ts(seconds: np.ndarray, pg: bool) -> list[str]:
    s = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [x.replace("T", " ") + ("+00" if pg else ".000000") for x in s.tolist()]


def generate(url: str, orders: int, touchpoints: int, customers: int, seed: int = 7) -> float:
    """Fill an empty migrated database; returns the seconds it took (indexes included)."""
    started = time.perf_counter()
    rnd = np.random.default_rng(seed)
    db = Database(url)
    pg = db.dialect == "postgresql"
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, names in INDEXES.items():
            for name in names:
                cur.execute(f"DROP INDEX {name}")
        created = "2026-12-01 00:00:00" + ("+00" if pg else ".000000")
        _load(cur, pg, "customers", ("id", "name", "status", "extra", "created_at", "updated_at"),
              ((i, f"客户{i}", "active", "{}", created, created) for i in range(1, customers + 1)))
        # orders: a few customers buy often, most rarely (a skewed draw)
        cust = np.sort(1 + (rnd.pareto(1.2, orders) * customers / 20).astype(np.int64) % customers)
        t = _times(rnd, cust)
        margin = np.round(rnd.gamma(2.0, 400.0, orders), 2)
        fraud = rnd.random(orders) < 0.01
        ch = ORDER_CHANNELS[rnd.integers(0, len(ORDER_CHANNELS), orders)]
        for lo in range(0, orders, BATCH):
            hi = min(orders, lo + BATCH)
            ts = _ts(t[lo:hi], pg)
            _load(cur, pg, "orders", ("id", "customer_id", "source", "external_id", "amount", "gross_margin",
                                      "ordered_at", "channel", "is_fraud", "created_at"),
                  ((i + 1, int(cust[i]), "bench", f"o{i}", float(margin[i] * 3), float(margin[i]), ts[i - lo],
                    str(ch[i]), bool(fraud[i]), created) for i in range(lo, hi)))
        # touchpoints: ten per order on average, near the same customers
        tcust = np.sort(np.concatenate([cust[rnd.integers(0, orders, touchpoints // 2)],
                                        1 + rnd.integers(0, customers, touchpoints - touchpoints // 2)]))
        tt = _times(rnd, tcust)
        kind_i = rnd.integers(0, len(CHANNELS), touchpoints)
        for lo in range(0, touchpoints, BATCH):
            hi = min(touchpoints, lo + BATCH)
            ts = _ts(tt[lo:hi], pg)
            _load(cur, pg, "touchpoints", ("id", "customer_id", "kind", "channel", "at", "source", "external_id",
                                           "clv_impact", "created_at"),
                  ((i + 1, int(tcust[i]), str(KINDS[kind_i[i]]), str(CHANNELS[kind_i[i]]), ts[i - lo], "bench",
                    f"t{i}", False, created) for i in range(lo, hi)))
        cur.execute("CREATE INDEX ix_orders_customer_at ON orders (customer_id, ordered_at)")
        cur.execute("CREATE INDEX ix_orders_ordered_at ON orders (ordered_at)")
        cur.execute("CREATE INDEX ix_touchpoints_customer_at ON touchpoints (customer_id, at)")
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        db.dispose()
    return time.perf_counter() - started


def _load(cur, pg: bool, table: str, cols: tuple[str, ...], rows: Iterator[tuple]) -> None:  # noqa: ANN001
    if pg:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(cols))
    cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)


@contextmanager
def database(backend: str, url: str | None) -> Iterator[str]:
    if url:
        upgrade(url)
        yield url
    elif backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="clv-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'clv.sqlite3'}"
            upgrade(url)
            yield url
    else:
        with scratch_postgres(PG_ADMIN_URL, "crmbot_clvbench") as url:
            upgrade(url)
            yield url


def bench(backend: str, url: str | None, orders: int, touchpoints: int, customers: int) -> str:
    with database(backend, url) as db_url:
        gen = generate(db_url, orders, touchpoints, customers)
        db = Database(db_url)
        try:
            cpu0 = time.process_time()
            run = run_attribution(db, Clv(), "Asia/Shanghai", NOW)
            cpu = time.process_time() - cpu0
            with db.engine.connect() as conn:
                check = conn.execute(text("SELECT model, SUM(margin) FROM attribution_credits GROUP BY model")).all()
            started = time.perf_counter()
            with db.uow() as s:
                snap = compute_snapshots(s, Clv(), "Asia/Shanghai", NOW)
            clv_seconds = time.perf_counter() - started
        finally:
            db.dispose()
    spread = max(abs(m - run.margin) for _, m in check) if check else float("nan")
    return (f"clv attribution [{db.dialect}] {orders:,} orders / {touchpoints:,} touchpoints / {customers:,} "
            f"customers: generated in {gen:.0f} s; attributed (4 models) in {run.seconds:.1f} s "
            f"(reading {run.read_seconds:.1f} s, CPU {cpu:.1f} s), {run.unattributed:,} orders without a touchpoint, "
            f"{run.rows} credit rows, models agree on the total margin within {spread:.4f}; "
            f"CLV of {snap.customers:,} customers in {clv_seconds:.1f} s; peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--touchpoints", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--database-url", default=None)
    a = ap.parse_args()
    backends = ["url"] if a.database_url else (["sqlite", "postgres"] if a.backend == "both" else [a.backend])
    for backend in backends:
        print(bench(backend, a.database_url, a.orders, a.touchpoints, a.customers), flush=True)


if __name__ == "__main__":
    main()
