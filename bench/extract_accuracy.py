"""Field-level accuracy of crm_core.extract on a labelled set of sales notes.

Each JSONL line: {"text", "now" (ISO with offset), "expected": {8 fields}}. A field counts
as right only on an exact match (None must be predicted as None). Label conventions follow
crm_core.extract: budget ranges take the lower bound, month-level dates are "YYYY-MM",
next_action is the canonical Chinese term even for English notes.

Usage: python bench/extract_accuracy.py [--file PATH] [--show-misses]
The last line is machine-readable: `extract_accuracy: notes=… budget=… overall=… ms_per_note=…`.
ms_per_note is the median wall time of one extract_lead_fields call, after a warm-up that loads
the word-segmentation dictionary once (its load time is printed on its own line, `load_ms`);
`cpu_ms` is the same call's CPU time, which other processes on a busy machine do not inflate.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crm_core.extract import FIELDS, extract_lead_fields, warm_up  # noqa: E402

DEFAULT_FILE = Path(__file__).parent / "data" / "extract_notes.jsonl"


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def evaluate(notes: list[dict], show_misses: bool, timings: list[float] | None = None,
             cpu: list[float] | None = None) -> dict[str, float]:
    right = dict.fromkeys(FIELDS, 0)
    for index, note in enumerate(notes, 1):
        now = datetime.fromisoformat(note["now"])
        started, started_cpu = time.perf_counter(), time.thread_time()
        got = extract_lead_fields(note["text"], now=now)
        if timings is not None:
            timings.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - started_cpu) * 1000)
        for field in FIELDS:
            if got[field] == note["expected"][field]:
                right[field] += 1
            elif show_misses:
                print(f"#{index} {field}: got={got[field]!r} want={note['expected'][field]!r} | {note['text'][:60]}")
    total = len(notes) or 1
    scores = {field: right[field] / total for field in FIELDS}
    scores["overall"] = sum(right.values()) / (total * len(FIELDS))
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    notes = load(args.file)
    started = time.perf_counter()
    warm_up()
    print(f"load_ms: {(time.perf_counter() - started) * 1000:.0f} (jieba dictionary, once per process)")
    timings: list[float] = []
    cpu: list[float] = []
    scores = evaluate(notes, args.show_misses, timings, cpu)
    elapsed_ms = statistics.median(timings) if timings else 0.0
    p95 = sorted(timings)[int(0.95 * (len(timings) - 1))] if timings else 0.0
    print(f"ms_per_note: median {elapsed_ms:.2f}, mean {statistics.fmean(timings) if timings else 0:.2f}, "
          f"p95 {p95:.2f}, max {max(timings, default=0):.2f}")
    cpu_p95 = sorted(cpu)[int(0.95 * (len(cpu) - 1))] if cpu else 0.0
    print(f"cpu_ms_per_note: median {statistics.median(cpu) if cpu else 0:.2f}, p95 {cpu_p95:.2f}")
    for field in FIELDS:
        print(f"{field:>13}: {scores[field]:.3f}")
    order = ("budget_cny", "phone", "timeline", "contact_name", "company", "product", "next_action", "industry")
    parts = " ".join(f"{field.replace('_cny', '').replace('_name', '')}={scores[field]:.3f}" for field in order)
    print(f"extract_accuracy: notes={len(notes)} {parts} overall={scores['overall']:.3f} ms_per_note={elapsed_ms:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
