"""Mandarin voice notes → lead fields: field accuracy from speech, CER, time per 10 s of audio.

Runs every note of bench/data/voice_notes_zh.jsonl (voiced by bench/voice_synth.py) through
decode → transcribe → extract, as WeCom AMR and/or Feishu Opus, in two settings:

- `bare`: no CRM context at all (no customers, no catalog): an empty CRM with no `products` configured;
- `catalog`: the customer is not in the CRM, but the team's product catalog (`products` in config,
  `CATALOG` below) is configured, as `handlers/voice.py` passes it for every note: the catalog is
  in the decoding prompt and the extraction, no customer, contact or phone is;
- `crm`:  the rep's customers are in the CRM (every note's customer: registered company name,
  contact, phone, 64 in all, so 63 are distractors) and the product catalog
  (`CATALOG` below) is configured.

Field accuracy counts the labelled (non-empty) fields of each note that come out exactly right,
over all labelled fields; in `crm` the company is right when it is the registered name.
`crm_no_prompt` is `crm` with the CRM's words used only after recognition (name correction and
extraction), not in the decoding prompt. `filled_wrong` counts fields given a value where the note says nothing. A field the confirm card
marks 「请核对」 still counts only when its value is right. The same notes typed (the note text through
the same extraction) are printed as `typed` for comparison. CER compares the transcript with the
words the voice said (spoken.jsonl), punctuation dropped and digits spelt out as read.
`s_per_10s` is recognition wall time per 10 s of audio (model load excluded, printed apart),
with the 1-minute load average beside it: the machine is shared; `cpu_s_per_10s` is the CPU time
the process spent on it (all threads), which other processes do not inflate: on an idle machine
with 2 threads, wall time is about half of it.

    .venv/bin/python bench/voice_accuracy.py [--format amr,opus] [--limit N] [--show] [--model-dir DIR]
        [--transcripts-cache FILE.json]

`--transcripts-cache`: the recogniser's transcripts (all three settings) are kept in FILE (written
when missing, read when present), so a change to the reading of transcripts (extraction, name
and sound-alike repairs) is measured in seconds; the time columns then repeat the cached run's.

The last line is machine-readable: `voice_accuracy: files=… bare=… catalog=… crm=… typed=… cer=… s_per_10s=…`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm_core.extract import FIELDS  # noqa: E402
from crm_core.voice import build_transcriber, decode_audio  # noqa: E402
from crm_core.voice.asr import Transcript  # noqa: E402
from crm_core.voice.pipeline import CrmWords, VoicePipeline, read_transcript  # noqa: E402
from crm_core.voice.crm_words import prompt_words  # noqa: E402

DATA = ROOT / "bench" / "data"
NOTES = DATA / "voice_notes_zh.jsonl"
AUDIO = DATA / "voice_zh"
CATALOG = ("客服系统", "冷链监控", "收银机", "进销存系统", "订票系统", "智慧黑板", "监护仪", "企业网盘", "温控系统",
           "门禁系统", "工控机", "视频会议系统", "智能门锁", "云桌面", "彩超", "堆场管理系统", "点餐系统", "设备联网",
           "客户管理系统", "停车系统", "实验室管理系统", "会员系统", "生产管理系统", "移动终端", "污水监测仪",
           "仓储管理系统", "录播教室", "运输管理系统", "医院信息系统", "溯源系统", "安全监控系统", "电子价签",
           "温度记录仪", "灌装线监控", "销售管理软件", "自助入住机", "光伏运维平台", "展厅大屏", "耳标管理",
           "北斗定位", "平板电脑", "订单管理系统", "防伪溯源", "智能柜台", "排课系统", "客流统计", "电子票务",
           "条码打印机", "智能灯光", "管网监测", "小程序商城", "起重机监控", "电池管理系统", "培训系统", "大数据平台",
           "经销商管理系统", "政务服务平台", "质检系统", "排队叫号系统", "酒店管理系统", "制造执行系统", "订货平台")
_DIGITS = "零一二三四五六七八九"


def load_notes() -> list[dict[str, Any]]:
    notes = [json.loads(line) for line in NOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    spoken = {row["id"]: row["spoken"] for row in map(json.loads, (AUDIO / "spoken.jsonl").read_text(
        encoding="utf-8").splitlines())}
    for note in notes:
        note["spoken"] = spoken.get(note["id"], note["text"])
    return notes


def crm_words(notes: list[dict[str, Any]]) -> CrmWords:
    """The rep's 64 customers in a fixed shuffled order (the prompt holds only the first that fit,
    as a real rep's most recent customers: so most notes' customer is not in the prompt)."""
    order = list(notes)
    random.Random(16).shuffle(order)
    return CrmWords(companies=tuple(n["crm_company"] for n in order),
                    contacts=tuple(n["expected"]["contact_name"] for n in order if n["expected"]["contact_name"]),
                    phones=tuple(n["expected"]["phone"] for n in order if n["expected"]["phone"]),
                    products=CATALOG)


def spell_digits(text: str) -> str:
    """Digits as a voice reads them: long runs and leading zeros digit by digit, else as a number."""
    import cn2an

    def one(match: re.Match[str]) -> str:
        run = match.group()
        if len(run) >= 5 or run.startswith("0") or "." in run:
            return "".join(_DIGITS[int(d)] if d.isdigit() else "点" for d in run)
        return str(cn2an.an2cn(run))
    return re.sub(r"\d+(?:\.\d+)?", one, text)


def fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", spell_digits(text)).lower()


def score(got: dict[str, Any], want: dict[str, Any], tally: Counter[str], tag: str) -> tuple[int, int]:
    right = labelled = 0
    for field in FIELDS:
        if want[field] is None:
            if got.get(field) not in (None, ""):
                tally[f"{tag}:filled_wrong"] += 1
            continue
        labelled += 1
        if got.get(field) == want[field]:
            right += 1
            tally[f"{tag}:{field}"] += 1
    return right, labelled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", default="amr,opus", help="amr, opus or both (comma-separated)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N notes")
    parser.add_argument("--only", help="comma-separated note ids")
    parser.add_argument("--show", action="store_true", help="print each transcript and its misses")
    parser.add_argument("--model-dir", help="CTranslate2 model dir (default: the packaged Whisper base)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-size", type=int, default=None)
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--transcripts-cache", type=Path, help="JSON file of transcripts: read if present, else written")
    args = parser.parse_args(argv)
    notes = load_notes()
    if args.only:
        notes = [n for n in notes if n["id"] in set(args.only.split(","))]
    if args.limit:
        notes = notes[:args.limit]
    extra: dict[str, Any] = {} if args.beam_size is None else {"beam_size": args.beam_size}
    transcriber = build_transcriber(model_path=args.model_dir, threads=args.threads,
                                    compute_type=args.compute_type, **extra)
    cache_file: Path | None = args.transcripts_cache
    cache: dict[str, Any] = {}
    if cache_file is not None and cache_file.exists():
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    load_s = cache.get("load_s", 0.0)
    if not cache:
        started = time.perf_counter()
        transcriber.load()
        load_s = time.perf_counter() - started
    pipeline = VoicePipeline(transcriber)

    def heard(key: str, audio_bytes: bytes, hotwords: CrmWords | None) -> tuple[Transcript, float, float]:
        """(transcript, CPU seconds, 1-minute load average) of one setting, from the cache when it has it."""
        if key in cache.get("heard", {}):
            row = cache["heard"][key]
            return Transcript(**dict(row["transcript"], confidence=tuple(row["transcript"]["confidence"]))), \
                row["cpu_s"], row["load"]
        audio = decode_audio(audio_bytes)
        load = os.getloadavg()[0]
        cpu = time.process_time()
        got = transcriber.transcribe(audio, hotwords=prompt_words(hotwords) if hotwords else None)
        cpu = time.process_time() - cpu
        if cache_file is not None:
            cache.setdefault("heard", {})[key] = {"transcript": dataclasses.asdict(got), "cpu_s": cpu, "load": load}
        return got, cpu, load
    words = crm_words(load_notes())
    catalog_words = CrmWords(products=CATALOG)
    tally: Counter[str] = Counter()
    totals = Counter[str]()
    cer_edits = cer_chars = 0
    audio_s = asr_s = cpu_s = 0.0
    loads: list[float] = []
    for fmt in args.format.split(","):
        for note in notes:
            now = datetime.fromisoformat(note["now"])
            audio_bytes = (AUDIO / f"{note['id']}.{fmt}").read_bytes()
            key = f"{note['id']}.{fmt}"
            bare_heard, cpu, load = heard(f"{key}:bare", audio_bytes, None)
            loads.append(load)
            cpu_s += cpu
            bare = read_transcript(bare_heard, now=now)
            catalog = read_transcript(heard(f"{key}:catalog", audio_bytes, catalog_words)[0]
                                      if pipeline.listens_for(catalog_words) else bare_heard,
                                      now=now, words=catalog_words)
            crm = read_transcript(heard(f"{key}:crm", audio_bytes, words)[0]
                                  if pipeline.listens_for(words) else bare_heard, now=now, words=words)
            # the CRM's words used after recognition only (no prompt): costs no second decoding
            after = read_transcript(bare.heard, now=now, words=words)
            audio_s += bare_heard.duration_s
            asr_s += bare.seconds
            want = dict(note["expected"])
            want_crm = dict(want, company=note["crm_company"] if want["company"] else None)
            for tag, got, expected in (("bare", bare.fields, want), ("catalog", catalog.fields, want),
                                       ("crm", crm.fields, want_crm), ("crm_after", after.fields, want_crm)):
                right, labelled = score(got, expected, tally, tag)
                totals[f"{tag}:right"] += right
                totals[f"{tag}:labelled"] += labelled
            ref, hyp = fold(note["spoken"]), fold(bare.transcript)
            edits = Levenshtein.distance(ref, hyp)
            cer_edits, cer_chars = cer_edits + edits, cer_chars + len(ref)
            if args.show:
                retry = " (retried)" if bare.heard.retried else ""
                print(f"{note['id']}.{fmt} cer={edits / max(1, len(ref)):.2f} {bare.seconds:.1f}s{retry} | {bare.transcript}")
                if crm.transcript != bare.transcript:
                    print(f"    crm transcript: {crm.transcript}")
                for tag, got, expected in (("bare", bare.fields, want), ("crm", crm.fields, want_crm)):
                    misses = [f"{f}={got.get(f)!r}≠{expected[f]!r}" for f in FIELDS
                              if expected[f] is not None and got.get(f) != expected[f]]
                    flagged = sorted((bare if tag == "bare" else crm).review)
                    print(f"    {tag}: {'; '.join(misses) or 'all right'}" + (f" | 请核对 {flagged}" if flagged else ""))
    if cache_file is not None and cache.get("heard") and not cache_file.exists():
        cache_file.write_text(json.dumps(dict(cache, load_s=load_s), ensure_ascii=False), encoding="utf-8")
    typed_right = typed_labelled = 0
    from crm_core.extract import extract_lead_fields
    for note in notes:
        got = extract_lead_fields(note["text"], now=datetime.fromisoformat(note["now"]))
        right, labelled = score(got, note["expected"], tally, "typed")
        typed_right, typed_labelled = typed_right + right, typed_labelled + labelled
    files = len(notes) * len(args.format.split(","))
    per_field = {tag: {f: tally[f"{tag}:{f}"] for f in FIELDS} for tag in ("bare", "catalog", "crm", "crm_after", "typed")}
    labelled_per_field = {f: sum(1 for n in notes if n["expected"][f] is not None) * len(args.format.split(","))
                          for f in FIELDS}
    print("labelled per field (all files):", labelled_per_field)
    for tag in ("bare", "catalog", "crm", "crm_after"):
        print(f"{tag} right per field:", per_field[tag], f"filled_wrong={tally[f'{tag}:filled_wrong']}")
    print(f"model load {load_s:.1f} s (once); load average {min(loads):.1f}-{max(loads):.1f} "
          f"(median {sorted(loads)[len(loads) // 2]:.1f}) on {os.cpu_count()} CPUs")
    bare_acc = totals["bare:right"] / max(1, totals["bare:labelled"])
    catalog_acc = totals["catalog:right"] / max(1, totals["catalog:labelled"])
    crm_acc = totals["crm:right"] / max(1, totals["crm:labelled"])
    after_acc = totals["crm_after:right"] / max(1, totals["crm_after:labelled"])
    print(f"voice_accuracy: files={files} bare={bare_acc:.3f} catalog={catalog_acc:.3f} crm={crm_acc:.3f} crm_no_prompt={after_acc:.3f} "
          f"typed={typed_right / max(1, typed_labelled):.3f} cer={cer_edits / max(1, cer_chars):.3f} "
          f"s_per_10s={asr_s / max(audio_s, 1e-9) * 10:.2f} cpu_s_per_10s={cpu_s / max(audio_s, 1e-9) * 10:.2f} "
          f"audio_s={audio_s:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
