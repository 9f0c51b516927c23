"""Fuse scan speed: 100,000 open leads, of which a slice is past its stage timeout; one
`scan_fuses` call (query + reminders + commit) must find exactly the overdue ones in ≤ 2 s on
SQLite and on PostgreSQL. Rows are bulk-inserted first (not timed) into a throwaway database.

    python -m bench.fuse_scan [--leads 100000] [--overdue 1000] [--backend sqlite|postgres|both]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere
from crm_core.config import load_config
from crm_core.db import Database
from crm_core.db.migrate import upgrade
from crm_core.db.models import Customer, Lead
from crm_core.db.scratch import scratch_postgres
from crm_core.services.fuse import scan_fuses

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("CRM_BOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2027, 3, 1, 2, 0, tzinfo=timezone.utc)
TARGET_S = 2.0
BATCH = 10_000


def lead_rows(count: int, overdue: int, customers: int, seed: int = 1):  # noqa: ANN201 - generator of dicts
    """Open leads: `overdue` of them past their deadline, the rest due within 1–72 h."""
    rnd = random.Random(seed)
    late = set(rnd.sample(range(count), overdue))
    reps = ["zhang.wei", "li.na"]
    for i in range(count):
        deadline = NOW - timedelta(minutes=rnd.randint(1, 600)) if i in late \
            else NOW + timedelta(minutes=rnd.randint(60, 72 * 60))
        entered = deadline - timedelta(hours=72)
        yield {"customer_id": 1 + i % customers, "title": f"线索 {i}", "stage": "qualify", "status": "open",
               "stage_entered_at": entered, "owner_rep_id": reps[i % 2], "team_id": "east-medical",
               "last_activity_at": entered, "fuse_deadline": deadline, "fuse_level": 0, "details": {},
               "created_at": entered, "updated_at": entered}


def fill(db: Database, count: int, overdue: int) -> float:
    """Bulk insert (executemany / insertmanyvalues); returns the seconds it took."""
    started = time.perf_counter()
    customers = max(1, count // 10)
    with db.engine.begin() as conn:
        conn.execute(insert(Customer.__table__), [
            {"name": f"客户{i}", "status": "active", "extra": {}, "created_at": NOW, "updated_at": NOW}
            for i in range(customers)])
        batch = []
        for row in lead_rows(count, overdue, customers):
            batch.append(row)
            if len(batch) == BATCH:
                conn.execute(insert(Lead.__table__), batch)
                batch = []
        if batch:
            conn.execute(insert(Lead.__table__), batch)
    with db.engine.connect() as conn:      # fresh statistics, as autovacuum/ANALYZE would give
        conn.execute(text("ANALYZE"))
        conn.commit()
    return time.perf_counter() - started


def run(name: str, url: str, count: int, overdue: int) -> bool:
    upgrade(url)
    db = Database(url)
    cfg = load_config(ROOT / "config" / "crm-bot.example.yaml", env={})
    try:
        insert_s = fill(db, count, overdue)
        started = time.perf_counter()
        with db.uow() as session:
            notices = scan_fuses(session, cfg, NOW, limit=max(overdue, 1) * 2)
        scan_s = time.perf_counter() - started
        found = len({n.lead_id for n in notices})
        started = time.perf_counter()
        with db.uow() as session:
            rescan = len(scan_fuses(session, cfg, NOW))
        rescan_s = time.perf_counter() - started
    finally:
        db.dispose()
    ok = found == overdue and rescan == 0 and scan_s <= TARGET_S
    print(f"fuse_scan {name}: {count:,} open leads, {found}/{overdue} overdue found, {len(notices)} notices "
          f"in {scan_s:.2f} s (target ≤ {TARGET_S:.0f} s); rescan {rescan} in {rescan_s:.3f} s; "
          f"insert {insert_s:.1f} s not timed → {'OK' if ok else 'FAIL'}", flush=True)
    return ok


def run_sqlite(count: int, overdue: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="crmbot-bench-") as tmp:
        return run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", count, overdue)


def run_postgres(count: int, overdue: int) -> bool:
    with scratch_postgres(PG_ADMIN_URL, "crmbot_bench") as url:
        return run("postgresql", url, count, overdue)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--overdue", type=int, default=1_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    results = []
    if args.backend in ("sqlite", "both"):
        results.append(run_sqlite(args.leads, args.overdue))
    if args.backend in ("postgres", "both"):
        results.append(run_postgres(args.leads, args.overdue))
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
