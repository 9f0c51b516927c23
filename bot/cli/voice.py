"""`crm-bot voice transcribe [--json] FILE...`: run voice notes through the configured transcriber
and the extractor, one result per file, so an admin can try a model on their own recordings."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from bot.cli.common import config_option, load_or_exit
from crm_core.config import AppConfig
from crm_core.voice import VoiceError, build_transcriber, decode_audio
from crm_core.voice.crm_words import CrmWords
from crm_core.voice.pipeline import VoicePipeline


@click.group("voice")
def voice_group() -> None:
    """Voice notes: try the transcriber on audio files."""


def pipeline_from_config(cfg: AppConfig, data_dir: str = "./data") -> VoicePipeline:
    v = cfg.voice
    transcriber = build_transcriber(backend=v.backend, model_path=v.model_path, compute_type=v.compute_type,
                                    language=v.language, data_dir=data_dir, threads=v.threads,
                                    initial_prompt=v.initial_prompt, beam_size=v.beam_size,
                                    languages=tuple(v.languages), switch_probability=v.switch_probability)
    return VoicePipeline(transcriber, review_below=v.review_below)


def transcribe_file(pipeline: VoicePipeline, path: Path, cfg: AppConfig, words: CrmWords | None) -> dict[str, Any]:
    """{"file", "transcript", "language", "confidence", "seconds", "audio_seconds", "fields", "review"}
    or {"file", "error", "message"} for a file that cannot be read or holds no speech."""
    try:
        audio = decode_audio(path.read_bytes(), max_seconds=cfg.voice.max_seconds)
        result = pipeline.run(audio, now=datetime.now(timezone.utc), words=words, industries=cfg.industries)
    except VoiceError as err:
        return {"file": str(path), "error": err.code, "message": err.user_message}
    except OSError as err:
        return {"file": str(path), "error": "unreadable", "message": f"无法读取文件:{err.strerror}"}
    confidence = result.heard.mean_confidence
    return {"file": str(path), "transcript": result.transcript, "heard": result.heard.text,
            "language": result.language, "confidence": round(confidence, 3) if confidence is not None else None,
            "seconds": round(result.seconds, 2), "audio_seconds": round(audio.duration_s, 2),
            "retried": result.heard.retried, "fields": result.fields, "review": sorted(result.review),
            "borrowed": [{"heard": b.heard, "name": b.name, "kind": b.kind} for b in result.borrowed]}


@voice_group.command("transcribe")
@config_option
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.option("--customers", "customers", multiple=True, metavar="NAME",
              help="a customer name the CRM knows (repeatable): helps the ear as it would a rep's list")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def transcribe_cmd(config_path: str | None, as_json: bool, customers: tuple[str, ...], files: tuple[Path, ...]) -> None:
    """Transcribe voice notes (AMR, Opus, SILK, MP3, WAV …) with the configured model and show the fields."""
    cfg = load_or_exit(config_path)
    pipeline = pipeline_from_config(cfg)
    words = CrmWords(companies=customers, products=tuple(cfg.products)) if cfg.voice.crm_hotwords else None
    failed = 0
    for path in files:
        row = transcribe_file(pipeline, path, cfg, words if words else None)
        failed += "error" in row
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(_human(row))
    raise SystemExit(1 if failed else 0)


def _human(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['file']}: {row['message']} ({row['error']})"
    fields = ", ".join(f"{k}={v}" + ("(请核对)" if k in row["review"] else "")
                       for k, v in row["fields"].items() if v not in (None, ""))
    return (f"{row['file']}: [{row['language']}, confidence {row['confidence']}, {row['seconds']} s for "
            f"{row['audio_seconds']} s of audio]\n  {row['transcript']}\n  {fields or '(no fields)'}")
