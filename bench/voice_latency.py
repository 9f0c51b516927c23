"""Voice-note latency on this machine: an 8-10 s English note (espeak-ng → AMR, as WeCom sends
it) through decode → transcribe → extract, one line per ASR backend. Model loading happens
once per worker, so it is reported apart from the per-note total.

    .venv/bin/python bench/voice_latency.py [--runs 3] [--openai-model PATH] [--model-dir DIR]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))      # run as a script from anywhere: find crm_core and tests.helpers

from crm_core.voice import DecodedAudio, VoiceError, build_transcriber, decode_audio  # noqa: E402
from tests.helpers.speech import convert, missing_speech_tools, speak_wav, write_tiny_whisper_checkpoint  # noqa: E402

NOTE = ("I just called Mister Wang from the Hangzhou office. They want to buy a CRM system, "
        "the budget is about five hundred thousand, and we will schedule a demo next Wednesday.")
TARGET_S = 3.0


def load_extractor() -> Callable[[str], dict] | None:
    try:
        from crm_core.extract import extract_lead_fields
    except ImportError:
        return None
    return extract_lead_fields


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def bench_backend(label: str, transcriber, note: bytes, runs: int, extract) -> str:
    try:
        _, load_s = timed(transcriber.load)
        stages = [run_once(transcriber, note, extract) for _ in range(runs)]
    except VoiceError as err:
        return f"{label}: failed ({err.code}: {err.detail})"
    audio, text = stages[-1][0], stages[-1][1]
    decode_s, asr_s, extract_s = (statistics.median(run[i] for run in stages) for i in (2, 3, 4))
    total = decode_s + asr_s + (extract_s or 0.0)
    extract_part = f"{extract_s:.3f} s" if extract is not None else "n/a"
    verdict = "OK" if total <= TARGET_S else "OVER"
    return (f"{label}: audio {audio.duration_s:.1f} s {audio.format} | load {load_s:.2f} s (once) | "
            f"decode {decode_s:.3f} s + transcribe {asr_s:.2f} s + extract {extract_part} = {total:.2f} s "
            f"(median of {runs}; target <= {TARGET_S:.0f} s: {verdict}) | \"{text[:70]}\"")


def run_once(transcriber, note: bytes, extract) -> tuple[DecodedAudio, str, float, float, float]:
    """(audio, text, decode s, transcribe s, extract s or 0 when no extractor)."""
    audio, decode_s = timed(lambda: decode_audio(note))
    transcript, asr_s = timed(lambda: transcriber.transcribe(audio))
    extract_s = timed(lambda: extract(transcript.text))[1] if extract is not None else 0.0
    return audio, transcript.text, decode_s, asr_s, extract_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-size", type=int, default=2)
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--model-dir", help="CTranslate2 model dir (default: the packaged Whisper base)")
    parser.add_argument("--cache-dir", help="where the packaged model is joined (default: $CRM_BOT_MODEL_CACHE or ./data)")
    parser.add_argument("--openai-model", help="openai-whisper checkpoint file (default: a tiny random one)")
    parser.add_argument("--skip-openai", action="store_true")
    args = parser.parse_args(argv)
    missing = missing_speech_tools()
    if missing:
        print(f"cannot make the test note: {missing}")
        return 2
    note = convert(speak_wav(NOTE, words_per_minute=170), "amr")
    extract = load_extractor()
    common = {"threads": args.threads, "beam_size": args.beam_size}
    faster = build_transcriber("faster-whisper", model_path=args.model_dir, cache_dir=args.cache_dir,
                               compute_type=args.compute_type, **common)
    model_label = args.model_dir or "packaged whisper-base"
    print(bench_backend(f"faster-whisper [{model_label}, {args.compute_type}, {args.threads} threads, beam {args.beam_size}]",
                        faster, note, args.runs, extract))
    if not args.skip_openai:
        print(bench_openai(args, note, extract, common))
    return 0


def bench_openai(args: argparse.Namespace, note: bytes, extract, common: dict) -> str:
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as scratch:
        if args.openai_model:
            checkpoint, label = args.openai_model, f"openai-whisper [{args.openai_model}]"
        else:
            try:
                checkpoint = str(write_tiny_whisper_checkpoint(Path(scratch) / "tiny-whisper.pt"))
            except ImportError:
                return "openai-whisper: disabled (torch/openai-whisper not installed)"
            label = "openai-whisper [TINY RANDOM TEST CHECKPOINT: timings only, text is garbage]"
        transcriber = build_transcriber("openai-whisper", model_path=checkpoint, **common)
        return bench_backend(label, transcriber, note, args.runs, extract)


if __name__ == "__main__":
    raise SystemExit(main())
