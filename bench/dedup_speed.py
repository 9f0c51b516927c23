"""Entry-check speed (issue part a): `check_entry` against N stored customers (default 1,000,000)
in PostgreSQL and in SQLite; 1,000 single lookups, p50/p95/max, one line per backend.

Rows come from bench.dedup_dataset (with three 5,000-contact companies as giant blocks), are
turned into customers, contacts and match keys exactly as the capture path stores them, written
once to a TSV spool and bulk-loaded (COPY for PostgreSQL, executemany for SQLite) with secondary
indexes built after the load. Only lookups are timed, each in its own unit of work. PostgreSQL
runs in a temporary database that is dropped afterwards; SQLite in a temporary file. Parts (b)
and (c) are in bench/dedup_index_speed.py.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere
from crm_core.config import AppConfig, load_config
from crm_core.db import Database
from crm_core.db.migrate import upgrade
from crm_core.db.models import Contact, Customer, MatchKey
from crm_core.db.scratch import scratch_postgres
from crm_core.normalize import normalize_company, normalize_phones
from crm_core.services.capture import contact_keys
from crm_core.services.dedup_entry import check_entry

PG_ADMIN_URL = os.environ.get("CRM_BOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TABLES = {  # spool file → (table, columns)
    "customers": ("customers", "id name company_key source status extra created_at updated_at"),
    "contacts": ("contacts", "id customer_id name phone phones email wechat_id source is_alias created_at"),
    "match_keys": ("match_keys", "id kind value contact_id customer_id"),
}
MODELS = (Customer, Contact, MatchKey)
EPOCH = datetime(2024, 1, 1)
NULL = "\\N"


def clean(value: object) -> str:
    if value is None or value == "":
        return NULL
    return str(value).replace("\\", " ").replace("\t", " ").replace("\n", " ")


def spool(count: int, seed: int, folder: Path) -> tuple[list[dict], int]:
    """Write customers/contacts/match_keys TSVs; returns (stored rows kept for queries, key count)."""
    from bench.dedup_dataset import iter_rows
    files = {name: (folder / f"{name}.tsv").open("w", encoding="utf-8") for name in TABLES}
    sample_rate, kept, key_id = 2000 / count, [], 0
    rng = random.Random(seed)
    for position, row in enumerate(iter_rows(count, seed, giant_companies=3 if count >= 100_000 else 0)):
        if position == count:
            break
        rid = position + 1
        phones = normalize_phones("/".join(row["phones"]))
        name = row["company"] or row["name"] or "未命名客户"
        created = (EPOCH + timedelta(seconds=rid * 30)).strftime("%Y-%m-%d %H:%M:%S")
        customer = SimpleNamespace(id=rid, name=name)
        contact = SimpleNamespace(id=rid, name=row["name"], phone=phones[0] if phones else None, phones=phones[:1],
                                  email=row["email"], wechat_id=row["wechat_id"])
        files["customers"].write("\t".join(map(clean, (rid, name, normalize_company(row["company"]) if row["company"]
                                                       else None, row["source"], "active", "{}", created, created))) + "\n")
        files["contacts"].write("\t".join(map(clean, (rid, rid, row["name"], contact.phone,
                                                      json.dumps(contact.phones, ensure_ascii=False), row["email"],
                                                      row["wechat_id"], row["source"], 0, created))) + "\n")
        for kind, value in contact_keys(customer, contact):
            key_id += 1
            files["match_keys"].write("\t".join(map(clean, (key_id, kind, value[:200], rid, rid))) + "\n")
        if rng.random() < sample_rate:
            kept.append(row)
    for fh in files.values():
        fh.close()
    return kept, key_id


def queries(stored: list[dict], lookups: int, seed: int) -> list[SimpleNamespace]:
    """Half re-entries of stored customers, half customers the database has never seen."""
    from bench.dedup_dataset import iter_rows
    rng = random.Random(seed)
    rows = rng.sample(stored, min(lookups // 2, len(stored)))
    fresh = iter_rows(lookups, seed + 99)
    rows += [next(fresh) for _ in range(lookups - len(rows))]
    rng.shuffle(rows)
    return [SimpleNamespace(company=r["company"], contact_name=r["name"], phone=None, phones=r["phones"],
                            email=r["email"], wechat_id=r["wechat_id"]) for r in rows]


def _drop_indexes(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for model in MODELS:
            for index in model.__table__.indexes:
                index.drop(conn)
    engine.dispose()


def _create_indexes(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for model in MODELS:
            for index in model.__table__.indexes:
                index.create(conn)
        conn.execute(text("ANALYZE"))
    engine.dispose()


def load_sqlite(path: Path, folder: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA foreign_keys=OFF;")
    for name, (table, columns) in TABLES.items():
        cols = columns.split()
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with (folder / f"{name}.tsv").open(encoding="utf-8") as fh:
            batch = []
            for line in fh:
                batch.append([None if v == NULL else v for v in line.rstrip("\n").split("\t")])
                if len(batch) == 50_000:
                    conn.executemany(sql, batch)
                    batch = []
            conn.executemany(sql, batch)
        conn.commit()
    conn.close()


def load_postgres(url: str, folder: Path) -> None:
    import psycopg
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")   # no FK triggers during the bulk load
        cur.execute("SET TIME ZONE 'UTC'")
        for name, (table, columns) in TABLES.items():
            with (folder / f"{name}.tsv").open("rb") as fh, cur.copy(
                    f"COPY {table} ({', '.join(columns.split())}) FROM STDIN") as copy:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(url: str, probes: list[SimpleNamespace], cfg: AppConfig) -> tuple[list[float], int]:
    db = Database(url)
    with db.uow() as s:                       # warm the pool and the statement cache
        check_entry(s, cfg, probes[0])
    timings, hits = [], 0
    for probe in probes:
        started = time.perf_counter()
        with db.uow() as s:
            hits += bool(check_entry(s, cfg, probe))
        timings.append((time.perf_counter() - started) * 1000)
    db.dispose()
    return timings, hits


def run_backend(label: str, url: str, folder: Path, probes: list[SimpleNamespace], count: int, keys: int,
                cfg: AppConfig) -> None:
    upgrade(url)
    _drop_indexes(url)
    started = time.perf_counter()
    if label == "sqlite":
        load_sqlite(Path(url.removeprefix("sqlite:///")), folder)
    else:
        load_postgres(url, folder)
    _create_indexes(url)
    loaded = time.perf_counter() - started
    timings, hits = measure(url, probes, cfg)
    print(f"entry_check[{label}]: customers={count} match_keys={keys} load_s={loaded:.1f} lookups={len(probes)} "
          f"with_match={hits} p50_ms={percentile(timings, 0.5):.2f} p95_ms={percentile(timings, 0.95):.2f} "
          f"max_ms={max(timings):.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--backends", default="postgres,sqlite", help="comma-separated: postgres, sqlite")
    parser.add_argument("--config", default=None, help="thresholds/weights from this config (default: built-in)")
    args = parser.parse_args()
    cfg = load_config(args.config) if args.config else AppConfig()
    with tempfile.TemporaryDirectory(prefix="crmbot-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        stored, keys = spool(args.customers, args.seed, folder)
        print(f"spooled {args.customers} customers, {keys} match keys in {time.perf_counter() - started:.1f} s",
              flush=True)
        probes = queries(stored, args.lookups, args.seed)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                run_backend("sqlite", f"sqlite:///{folder / 'bench.sqlite3'}", folder, probes, args.customers, keys, cfg)
            elif backend == "postgres":
                with scratch_postgres(PG_ADMIN_URL, "crmbot_bench") as url:
                    run_backend("postgres", url, folder, probes, args.customers, keys, cfg)


if __name__ == "__main__":
    main()
