"""Voice-note decoding: container sniffing, cheap duration estimates, the ffmpeg decode with its
caps, and the polite errors for empty / corrupt / too long / silent audio."""
from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from crm_core.voice import audio as audio_mod
from crm_core.voice.audio import decode_audio, estimate_duration, has_speech, sniff_format
from crm_core.voice.errors import VOICE_ERROR_CODES, VoiceError, too_long_message
from tests.helpers.speech import (
    SPEECH_FORMATS,
    convert,
    missing_speech_tools,
    noise,
    speak_wav,
    tone,
    voice_note,
    wav_bytes,
)

SENTENCE = "Please call the customer next Wednesday about the budget."
CJK = re.compile(r"[\u4e00-\u9fff]")

needs_tools = pytest.mark.skipif(missing_speech_tools() is not None or not audio_mod.probe_ffmpeg(),
                                 reason=f"speech tools missing: {missing_speech_tools()}")


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    return speak_wav(SENTENCE)


@pytest.fixture(scope="module")
def encoded(speech_wav: bytes) -> dict[str, bytes]:
    return {fmt: convert(speech_wav, fmt) for fmt in SPEECH_FORMATS}


def _amr_frames(count: int, frame_type: int = 7) -> bytes:
    size = audio_mod._AMR_NB_FRAME_BYTES[frame_type]
    return b"#!AMR\n" + (bytes([frame_type << 3 | 0x04]) + b"\x00" * (size - 1)) * count


@pytest.mark.parametrize(("data", "expected"), [
    (b"#!AMR\n\x3c" + b"\x00" * 31, "amr"),
    (b"#!AMR-WB\n\x44" + b"\x00" * 60, "amr-wb"),
    (b"#!SILK_V3\x00\x01", "silk"),
    (b"\x02#!SILK_V3\x00\x01", "silk"),
    (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead\x01\x01", "opus"),
    (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis\x00", "vorbis"),
    (b"OggS\x00\x02" + b"\x00" * 22 + b"Speex   1.2", "speex"),
    (b"OggS\x00\x02" + b"\x00" * 22 + b"something", "ogg"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
    (b"RIFF\x24\x00\x00\x00AVI LIST", "unknown"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
    (b"\xff\xfb\x90\x64\x00", "mp3"),
    (b"\xff\xf1\x50\x80\x02", "aac"),
    (b"fLaC\x00\x00\x00\x22", "flac"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86", "webm"),
    (b"\x00\x00\x00\x20ftypM4A ", "m4a"),
    (b"caff\x00\x01\x00\x00", "caf"),
    (b"hello world, not audio", "unknown"),
    (b"", "unknown"),
])
def test_sniff_format(data: bytes, expected: str) -> None:
    assert sniff_format(data) == expected


@pytest.mark.parametrize(("frames", "frame_type"), [(1, 7), (50, 7), (433, 0), (120, 8), (75, 15)])
def test_amr_duration_walks_frames(frames: int, frame_type: int) -> None:
    assert estimate_duration(_amr_frames(frames, frame_type), "amr") == pytest.approx(frames * 0.02)


def test_amr_duration_stops_once_over_limit() -> None:
    estimate = estimate_duration(_amr_frames(9000), "amr", stop_after_s=10.0)
    assert 10.0 < estimate < 10.1


@pytest.mark.parametrize(("seconds", "rate"), [(0.5, 16000), (3.25, 8000), (12.0, 22050)])
def test_wav_duration_from_header(seconds: float, rate: int) -> None:
    data = wav_bytes(tone(seconds, sample_rate=rate), rate)
    assert estimate_duration(data, "wav") == pytest.approx(seconds, abs=1 / rate)


def test_wav_duration_trusts_bytes_over_streaming_header() -> None:
    data = bytearray(wav_bytes(tone(2.0)))
    data[40:44] = b"\xff\xff\xff\xff"           # what streaming writers put in the data size
    assert estimate_duration(bytes(data), "wav") == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize(("signal", "expected"), [
    (np.zeros(16000 * 2, dtype=np.float32), False),
    (noise(2.0, 0.0005), False),
    (np.full(16000 * 2, 0.4, dtype=np.float32), False),          # DC offset is not sound
    (np.concatenate([np.zeros(16000), tone(0.1), np.zeros(16000)]), False),
    (tone(1.0), True),
    (np.concatenate([np.zeros(16000), tone(0.5, amplitude=0.05)]), True),
    (np.zeros(0, dtype=np.float32), False),
])
def test_has_speech(signal: np.ndarray, expected: bool) -> None:
    assert has_speech(signal, 16000) is expected


def test_error_codes_have_chinese_messages() -> None:
    for code in VOICE_ERROR_CODES:
        err = VoiceError(code, "internal detail: Traceback ...")  # type: ignore[arg-type]
        assert CJK.search(err.user_message) and "Traceback" not in err.user_message
    with pytest.raises(ValueError):
        VoiceError("exploded")  # type: ignore[arg-type]


@pytest.mark.parametrize(("limit", "shown"), [(180, "3分钟"), (60, "1分钟"), (90, "90秒"), (45.2, "45秒")])
def test_too_long_message_names_limit(limit: float, shown: str) -> None:
    assert shown in too_long_message(limit)


@needs_tools
@pytest.mark.parametrize("fmt", SPEECH_FORMATS)
def test_decodes_speech_in_every_format(fmt: str, encoded: dict[str, bytes], speech_wav: bytes) -> None:
    reference = estimate_duration(speech_wav, "wav")
    decoded = decode_audio(encoded[fmt])
    assert decoded.format == fmt
    assert decoded.sample_rate == 16000 and decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert decoded.duration_s == pytest.approx(decoded.samples.size / 16000)
    # AMR's decoder drops DTX comfort-noise frames, so allow it to come out a little short.
    assert decoded.duration_s == pytest.approx(reference, abs=0.8)
    assert float(np.abs(decoded.samples).max()) <= 1.01 and has_speech(decoded.samples, 16000)


@needs_tools
@pytest.mark.parametrize(("platform", "container", "expected"), [
    ("wecom", None, "amr"), ("feishu", None, "opus"), ("dingtalk", None, "amr"), ("dingtalk", "opus", "opus"),
])
def test_decodes_platform_voice_notes(platform: str, container: str | None, expected: str) -> None:
    decoded = decode_audio(voice_note("Call me tomorrow.", platform, container))
    assert decoded.format == expected and decoded.duration_s > 0.5


def _error_cases(encoded: dict[str, bytes]) -> list[tuple[str, bytes, dict, str]]:
    rng = np.random.default_rng(7)
    ten_minutes_silence = wav_bytes(np.zeros(16000 * 600, dtype=np.float32))
    amr = encoded["amr"]
    return [
        ("empty", b"", {}, "empty"),
        ("amr header only", b"#!AMR\n", {}, "empty"),
        ("wav header only", wav_bytes(np.zeros(0, dtype=np.float32)), {}, "empty"),
        ("random bytes", rng.bytes(20000), {}, "corrupt"),
        ("random bytes small", rng.bytes(300), {}, "corrupt"),
        ("truncated ogg", encoded["opus"][:120], {}, "corrupt"),
        ("riff with garbage", b"RIFF\x00\x00\x00\x00WAVEfmt " + rng.bytes(500), {}, "corrupt"),
        ("silk", b"\x02#!SILK_V3" + rng.bytes(3000), {}, "corrupt"),
        ("ten minute wav", ten_minutes_silence, {}, "too_long"),
        ("ten minute amr", amr + amr[6:] * 200, {}, "too_long"),
        ("over 20 MB", b"#!AMR\n" + b"\x00" * (21 * 1024 * 1024), {}, "too_long"),
        *[(f"{fmt} over a 2 s limit", encoded[fmt], {"max_seconds": 2.0}, "too_long") for fmt in SPEECH_FORMATS],
        ("silence", wav_bytes(np.zeros(16000 * 3, dtype=np.float32)), {}, "no_speech"),
        ("near-zero hiss", wav_bytes(noise(3.0, 0.0004)), {}, "no_speech"),
        ("silence as opus", convert(wav_bytes(np.zeros(16000 * 3, dtype=np.float32)), "opus"), {}, "no_speech"),
    ]


@needs_tools
def test_unusable_audio_gets_a_polite_error(encoded: dict[str, bytes]) -> None:
    for name, data, kwargs, code in _error_cases(encoded):
        with pytest.raises(VoiceError) as caught:
            decode_audio(data, **kwargs)
        assert caught.value.code == code, f"{name}: {caught.value.code} ({caught.value.detail})"
        assert CJK.search(caught.value.user_message), name


@needs_tools
def test_silk_says_unsupported() -> None:
    with pytest.raises(VoiceError) as caught:
        decode_audio(b"#!SILK_V3" + bytes(range(256)) * 8)
    assert "SILK" in caught.value.user_message and "不支持" in caught.value.user_message


@needs_tools
def test_too_long_message_uses_configured_limit(encoded: dict[str, bytes]) -> None:
    with pytest.raises(VoiceError) as caught:
        decode_audio(encoded["opus"], max_seconds=2.0)
    assert "2秒" in caught.value.user_message


@needs_tools
def test_truncated_upload_keeps_decodable_start(encoded: dict[str, bytes]) -> None:
    whole = decode_audio(encoded["opus"])
    half = decode_audio(encoded["opus"][: len(encoded["opus"]) // 2])
    assert 0.5 < half.duration_s < whole.duration_s


def test_subprocess_timeout_is_enforced() -> None:
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    out, returncode, _ = audio_mod._run_capped(hang, b"x" * 10, max_bytes=100, timeout_s=0.5)
    assert returncode is None and out == b""


def test_subprocess_output_is_capped() -> None:
    flood = [sys.executable, "-c", "import sys\nwhile True: sys.stdout.buffer.write(b'0' * 65536)"]
    out, returncode, _ = audio_mod._run_capped(flood, b"", max_bytes=200_000, timeout_s=20)
    assert 200_000 < len(out) <= 200_000 + 65536 and returncode not in (None, 0)
