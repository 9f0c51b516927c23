"""Voice-note decoding: sniff the container from magic bytes, reject oversize notes cheaply
from headers where possible, decode with an ffmpeg subprocess (stdin → stdout, no temp files)
to 16 kHz mono float32 with a hard cap on decoded samples, and reject silence."""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import IO

import numpy as np

from crm_core.voice.errors import TOO_LARGE_MESSAGE, UNSUPPORTED_FORMAT_MESSAGE, VoiceError, too_long_message

log = logging.getLogger(__name__)

MAX_INPUT_BYTES = 20 * 1024 * 1024
DECODE_TIMEOUT_S = 20.0
# Containers round durations to whole frames (AMR 20 ms, Opus pre-skip): allow a little slack.
DURATION_SLACK_S = 0.5
# A 30 ms frame is "active" above about -50 dBFS RMS; a note needs a quarter second of it.
SPEECH_RMS_FLOOR = 0.003
MIN_ACTIVE_S = 0.25
_FRAME_S = 0.03

# Total bytes per stored frame (header byte included), indexed by frame type; RFC 4867 §5.3.
_AMR_NB_FRAME_BYTES = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)
_AMR_WB_FRAME_BYTES = (18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1)
_AMR_FRAME_S = 0.02

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"#!AMR-WB\n", "amr-wb"),
    (b"#!AMR\n", "amr"),
    (b"#!SILK", "silk"),
    (b"\x02#!SILK", "silk"),     # WeChat prefixes its SILK v3 files with 0x02
    (b"OggS", "ogg"),
    (b"fLaC", "flac"),
    (b"ID3", "mp3"),
    (b"\x1a\x45\xdf\xa3", "webm"),
    (b"caff", "caf"),
)


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 PCM in [-1, 1] at `sample_rate`, plus what it was decoded from."""

    samples: np.ndarray
    duration_s: float
    format: str
    sample_rate: int = 16000


def sniff_format(data: bytes) -> str:
    """Name the container from magic bytes; "unknown" lets ffmpeg probe it itself."""
    for prefix, name in _PREFIXES:
        if data.startswith(prefix):
            return _ogg_codec(data) if name == "ogg" else name
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[4:8] == b"ftyp":
        return "m4a"
    if len(data) >= 2 and data[0] == 0xFF:
        if data[1] & 0xF6 == 0xF0:          # ADTS sync with layer bits 00
            return "aac"
        if data[1] & 0xE0 == 0xE0 and (data[1] >> 1) & 0x3:
            return "mp3"
    return "unknown"


def _ogg_codec(data: bytes) -> str:
    head = data[:512]
    if b"OpusHead" in head:
        return "opus"
    if b"\x01vorbis" in head:
        return "vorbis"
    if b"Speex   " in head:
        return "speex"
    return "ogg"


def estimate_duration(data: bytes, fmt: str, stop_after_s: float | None = None) -> float | None:
    """Duration from headers/frame walk without decoding, or None when not knowable cheaply.

    Only used to refuse early; the decoder enforces the real limit on decoded samples."""
    if fmt == "wav":
        return _wav_duration(data)
    if fmt in ("amr", "amr-wb"):
        return _amr_duration(data, fmt, stop_after_s)
    if fmt in ("opus", "vorbis"):
        return _ogg_duration(data, fmt)
    return None


def _wav_duration(data: bytes) -> float | None:
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16:
            byte_rate = int.from_bytes(data[body + 8:body + 12], "little")
        elif chunk_id == b"data":
            # Streaming writers (espeak-ng --stdout) put 0xFFFFFFFF here: trust the bytes we hold.
            return min(size, len(data) - body) / byte_rate if byte_rate else None
        pos = body + size + (size & 1)
    return None


def _amr_duration(data: bytes, fmt: str, stop_after_s: float | None) -> float:
    sizes = _AMR_WB_FRAME_BYTES if fmt == "amr-wb" else _AMR_NB_FRAME_BYTES
    pos = len(b"#!AMR-WB\n") if fmt == "amr-wb" else len(b"#!AMR\n")
    max_frames = int(stop_after_s / _AMR_FRAME_S) + 1 if stop_after_s is not None else None
    frames = 0
    while pos < len(data):
        pos += sizes[(data[pos] >> 3) & 0x0F]
        frames += 1
        if max_frames is not None and frames > max_frames:
            break                       # already over the limit: no need to walk a huge file
    return frames * _AMR_FRAME_S


def _ogg_duration(data: bytes, fmt: str) -> float | None:
    last_page = data.rfind(b"OggS")
    if last_page < 0 or last_page + 14 > len(data):
        return None
    granule = int.from_bytes(data[last_page + 6:last_page + 14], "little", signed=True)
    if granule < 0:
        return None
    if fmt == "opus":
        head = data.find(b"OpusHead")
        pre_skip = int.from_bytes(data[head + 10:head + 12], "little") if head >= 0 else 0
        return max(granule - pre_skip, 0) / 48000.0     # Opus granules always count 48 kHz
    ident = data.find(b"\x01vorbis")
    rate = int.from_bytes(data[ident + 12:ident + 16], "little") if ident >= 0 else 0
    return granule / rate if rate else None


def ffmpeg_path() -> str | None:
    """The ffmpeg binary: `CRM_BOT_FFMPEG` if set, else the one on PATH."""
    return os.environ.get("CRM_BOT_FFMPEG") or shutil.which("ffmpeg")


@functools.lru_cache(maxsize=4)
def _ffmpeg_works(path: str) -> bool:
    try:
        done = subprocess.run([path, "-nostdin", "-version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=4)
def _ffmpeg_decoders(path: str) -> frozenset[str]:
    try:
        done = subprocess.run([path, "-nostdin", "-hide_banner", "-decoders"], capture_output=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    return frozenset(parts[1] for parts in map(str.split, lines) if len(parts) > 1 and parts[0].startswith("A"))


def _decoder_args(binary: str, fmt: str) -> list[str]:
    """Prefer opencore for AMR: ffmpeg's native decoder drops DTX comfort-noise frames."""
    wanted = {"amr": "libopencore_amrnb", "amr-wb": "libopencore_amrwb"}.get(fmt)
    return ["-c:a", wanted] if wanted and wanted in _ffmpeg_decoders(binary) else []


def probe_ffmpeg() -> bool:
    """True when an ffmpeg binary is present and runs."""
    path = ffmpeg_path()
    return bool(path) and _ffmpeg_works(path)


def decode_audio(data: bytes, max_seconds: float = 180.0, sample_rate: int = 16000) -> DecodedAudio:
    """Decode a voice note to mono float32 PCM; raise VoiceError for anything unusable."""
    if not data:
        raise VoiceError("empty", "no bytes")
    if len(data) > MAX_INPUT_BYTES:
        raise VoiceError("too_long", f"{len(data)} bytes", TOO_LARGE_MESSAGE)
    fmt = sniff_format(data)
    limit_s = max_seconds + DURATION_SLACK_S
    estimate = estimate_duration(data, fmt, stop_after_s=limit_s)
    if estimate is not None and estimate > limit_s:
        raise VoiceError("too_long", f"{fmt} headers say at least {estimate:.1f}s", too_long_message(max_seconds))
    samples = _decode_pcm(data, fmt, sample_rate, max_seconds)
    if samples.size == 0:
        raise VoiceError("empty", f"{fmt}: no audio frames")
    duration = samples.size / sample_rate
    if duration > limit_s:
        raise VoiceError("too_long", f"decoded {duration:.1f}s", too_long_message(max_seconds))
    if not has_speech(samples, sample_rate):
        raise VoiceError("no_speech", f"{fmt}: {duration:.1f}s below speech energy floor")
    return DecodedAudio(samples=samples, duration_s=duration, format=fmt, sample_rate=sample_rate)


def has_speech(samples: np.ndarray, sample_rate: int) -> bool:
    """Whether at least MIN_ACTIVE_S of 30 ms frames rise above the energy floor."""
    frame = max(int(sample_rate * _FRAME_S), 1)
    count = samples.size // frame
    if count == 0:
        return False
    frames = samples[: count * frame].reshape(count, frame).astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)       # ignore DC offset from cheap microphones
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return float(np.count_nonzero(rms > SPEECH_RMS_FLOOR)) * _FRAME_S >= MIN_ACTIVE_S


def _decode_pcm(data: bytes, fmt: str, sample_rate: int, max_seconds: float) -> np.ndarray:
    binary = ffmpeg_path()
    if not binary or not _ffmpeg_works(binary):
        raise VoiceError("asr_disabled", "ffmpeg not available")
    # One second past the limit is enough to tell "too long"; the byte cap below holds even
    # when the container's timestamps lie and `-t` never triggers.
    keep_s = max_seconds + 1.0
    cmd = [binary, "-nostdin", "-hide_banner", "-loglevel", "error", *_decoder_args(binary, fmt),
           "-i", "pipe:0", "-vn", "-t", f"{keep_s:.3f}",
           "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    max_bytes = int(keep_s * sample_rate) * 4 + 4 * sample_rate
    try:
        pcm, returncode, stderr = _run_capped(cmd, data, max_bytes, DECODE_TIMEOUT_S)
    except OSError as exc:          # binary vanished or not executable since the probe
        raise VoiceError("asr_disabled", f"cannot run ffmpeg: {exc}") from exc
    if len(pcm) > max_bytes:
        raise VoiceError("too_long", "decoded past the sample cap", too_long_message(max_seconds))
    if returncode is None or (returncode != 0 and not pcm):
        _raise_undecodable(fmt, returncode, stderr)
    if returncode != 0:
        # A truncated upload still carries a usable start; keep what decoded.
        log.warning("ffmpeg rc=%s on %s after %d bytes of PCM: %s", returncode, fmt, len(pcm), stderr[-200:])
    usable = len(pcm) - len(pcm) % 4
    return np.frombuffer(pcm[:usable], dtype="<f4")


def _raise_undecodable(fmt: str, returncode: int | None, stderr: str) -> None:
    detail = f"ffmpeg rc={returncode} on {fmt}: {stderr[-300:].strip()}"
    if returncode is None:
        raise VoiceError("corrupt", f"ffmpeg timed out on {fmt}")
    if fmt == "silk":
        raise VoiceError("corrupt", detail, UNSUPPORTED_FORMAT_MESSAGE.format(name="SILK"))
    raise VoiceError("corrupt", detail)


def _run_capped(cmd: list[str], data: bytes, max_bytes: int, timeout_s: float) -> tuple[bytearray, int | None, str]:
    """Run `cmd` feeding `data` on stdin; read stdout up to max_bytes (+1 chunk, then kill).

    Returns (stdout, returncode or None on timeout, stderr tail)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timed_out = threading.Event()
    stderr_tail = bytearray()
    helpers = [threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True),
               threading.Thread(target=_drain_tail, args=(proc.stderr, stderr_tail), daemon=True)]

    def _on_timeout() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(timeout_s, _on_timeout)
    out = bytearray()
    try:
        for thread in helpers:
            thread.start()
        watchdog.start()
        assert proc.stdout is not None
        while chunk := proc.stdout.read(65536):
            out += chunk
            if len(out) > max_bytes:
                proc.kill()
                break
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for thread in helpers:
            thread.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
    returncode = None if timed_out.is_set() else proc.returncode
    return out, returncode, stderr_tail.decode("utf-8", "replace")


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    if pipe is None:
        return
    # ffmpeg may stop reading early (error, -t reached, killed): its exit code tells why.
    with contextlib.suppress(OSError, ValueError):
        pipe.write(data)
    with contextlib.suppress(OSError, ValueError):
        pipe.close()


def _drain_tail(pipe: IO[bytes] | None, tail: bytearray, keep: int = 4096) -> None:
    if pipe is None:
        return
    with pipe:
        while chunk := pipe.read(4096):
            tail += chunk
            del tail[:-keep]
