"""Speed and memory of the in-memory duplicate index (issue parts b and c).

(b) `DuplicateIndex` over N records (default 1,000,000, with three 5,000-contact companies as giant
blocks): build time, peak RSS, p95 of 1,000 `candidates()` lookups. (c) `find_duplicate_groups` on
100,000 records. One result line each; `--records N` for quick runs.
"""
from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere
from bench.dedup_dataset import iter_rows
from crm_core.dedup import DedupRecord, DuplicateIndex, find_duplicate_groups


def make_records(count: int, seed: int, giants: int = 0) -> list[DedupRecord]:
    """`count` generated records; rows are turned into records one by one to keep memory flat."""
    records = []
    for position, row in enumerate(iter_rows(count, seed, giant_companies=giants)):
        if position == count:
            break
        row["id"] = position
        records.append(DedupRecord.from_mapping(row))
    return records


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # ru_maxrss is KiB on Linux


def rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 1024 ** 3


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_index(count: int, lookups: int, seed: int) -> None:
    started = time.perf_counter()
    records = make_records(count, seed, giants=3 if count >= 100_000 else 0)
    generated, rss_records = time.perf_counter() - started, rss_gb()
    gc.freeze()  # the records live for the whole run: keep the collector from rescanning them
    started = time.perf_counter()
    index = DuplicateIndex(records)
    build = time.perf_counter() - started
    rng = random.Random(seed + 1)
    queries = [replace(record, id=f"q{i}") for i, record in enumerate(rng.sample(records, lookups // 2))]
    queries += [replace(record, id=f"n{i}") for i, record in enumerate(make_records(lookups - len(queries), seed + 2))]
    timings, found = [], 0
    for query in queries:
        started = time.perf_counter()
        found += bool(index.candidates(query))
        timings.append((time.perf_counter() - started) * 1000)
    print(f"dedup_index: records={len(index)} generate_s={generated:.1f} build_s={build:.1f} "
          f"rss_records_gb={rss_records:.2f} peak_rss_gb={peak_rss_gb():.2f} lookups={len(queries)} "
          f"with_candidates={found} p50_ms={percentile(timings, 0.5):.2f} p95_ms={percentile(timings, 0.95):.2f} "
          f"max_ms={max(timings):.1f}")


def bench_groups(count: int, seed: int) -> None:
    records = make_records(count, seed + 7)
    started = time.perf_counter()
    groups = find_duplicate_groups(records)
    elapsed = time.perf_counter() - started
    print(f"dedup_groups: records={len(records)} groups={len(groups)} "
          f"grouped_records={sum(map(len, groups))} seconds={elapsed:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000, help="index size for part (b)")
    parser.add_argument("--group-records", type=int, default=100_000, help="input size for part (c)")
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--skip-groups", action="store_true")
    args = parser.parse_args()
    if not args.skip_groups:  # first, while the process is small
        bench_groups(min(args.group_records, args.records), args.seed)
    if not args.skip_index:
        bench_index(args.records, args.lookups, args.seed)


if __name__ == "__main__":
    main()
