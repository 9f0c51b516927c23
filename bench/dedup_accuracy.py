"""Pairwise precision / recall / F1 of `find_duplicate_groups` on the labelled evaluation set.

Reads bench/data/dedup_eval.jsonl (or generates it in memory for other seeds) and reports at the
merge threshold (92) and the prompt threshold (85). `--errors N` prints sample wrong/missed pairs.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere
from bench.dedup_dataset import ENTITIES, OUTPUT, generate
from crm_core.dedup import DedupRecord, RecordId, find_duplicate_groups, match_score


def load(path: Path) -> list[dict]:
    """The JSONL set; the default file is regenerated (deterministically) when it is missing."""
    if not path.exists() and path == OUTPUT:
        return generate()
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


Pair = tuple[RecordId, RecordId]


def ordered(a: RecordId, b: RecordId) -> Pair:
    return (a, b) if str(a) <= str(b) else (b, a)


def true_pairs(rows: list[dict]) -> set[Pair]:
    by_entity: dict[int, list[RecordId]] = defaultdict(list)
    for row in rows:
        by_entity[row["entity"]].append(row["id"])
    return {ordered(a, b) for ids in by_entity.values() for a, b in combinations(ids, 2)}


def predicted_pairs(groups: list[list[RecordId]]) -> set[Pair]:
    return {ordered(a, b) for group in groups for a, b in combinations(group, 2)}


def evaluate(rows: list[dict], threshold: float) -> tuple[dict[str, float], set, set]:
    records = [DedupRecord.from_mapping(row) for row in rows]
    truth, predicted = true_pairs(rows), predicted_pairs(find_duplicate_groups(records, threshold))
    hits = len(truth & predicted)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    stats = {"pairs": len(truth), "predicted": len(predicted), "precision": precision, "recall": recall, "f1": f1}
    return stats, predicted - truth, truth - predicted


def show(rows: list[dict], pairs: set, label: str, count: int) -> None:
    by_id = {row["id"]: row for row in rows}
    for a, b in sorted(pairs)[:count]:
        ra, rb = DedupRecord.from_mapping(by_id[a]), DedupRecord.from_mapping(by_id[b])
        print(f"  {label} score={match_score(ra, rb):.1f}")
        for row in (by_id[a], by_id[b]):
            print("    ", {k: row[k] for k in ("entity", "name", "company", "phones", "email", "wechat_id")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=OUTPUT)
    parser.add_argument("--seed", type=int, action="append", help="evaluate a generated set for this seed instead")
    parser.add_argument("--entities", type=int, default=ENTITIES)
    parser.add_argument("--errors", type=int, default=0)
    args = parser.parse_args()
    if args.seed:
        sets = [(f"seed={seed}", generate(args.entities, seed)) for seed in args.seed]
    else:
        sets = [(args.data.name, load(args.data))]
    for label, rows in sets:
        for threshold in (92.0, 85.0):
            stats, wrong, missed = evaluate(rows, threshold)
            print(f"dedup_accuracy: set={label} threshold={threshold:g} records={len(rows)} pairs={stats['pairs']} "
                  f"predicted={stats['predicted']} precision={stats['precision']:.4f} recall={stats['recall']:.4f} "
                  f"f1={stats['f1']:.4f}")
            if args.errors and threshold == 92.0:
                show(rows, wrong, "WRONG", args.errors)
                show(rows, missed, "MISSED", args.errors)


if __name__ == "__main__":
    main()
