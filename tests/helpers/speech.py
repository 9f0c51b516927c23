"""Test audio made on the spot: espeak-ng English speech converted to what each platform sends
(WeCom AMR-NB, Feishu Ogg/Opus, DingTalk AMR or Ogg), synthetic PCM (silence, tones, noise),
and a tiny random-weight openai-whisper checkpoint in the real on-disk format."""
from __future__ import annotations

import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

# What each platform's voice message arrives as (see docs: WeCom `Format=amr`, Feishu Opus in
# Ogg; DingTalk does not document its container, reports say AMR or Ogg).
PLATFORM_FORMATS: dict[str, str] = {"wecom": "amr", "feishu": "opus", "dingtalk": "amr"}
SPEECH_FORMATS = ("wav", "amr", "opus", "mp3", "flac")

_FFMPEG_CODECS = {
    "opus": ["-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg"],
    "mp3": ["-ac", "1", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3"],
    "flac": ["-ac", "1", "-ar", "16000", "-c:a", "flac", "-f", "flac"],
    "wav": ["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", "-f", "wav"],
}


def missing_speech_tools() -> str | None:
    """Why speech can't be made here (for pytest.skip), or None when espeak/ffmpeg/sox all work."""
    for tool in ("espeak-ng", "ffmpeg", "sox"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(["sox", "-h"], capture_output=True, text=True, check=False)
    if "amr-nb" not in probe.stdout:
        return "sox has no AMR-NB support (libsox-fmt-all / opencore-amr)"
    return None


def speak_wav(text: str, voice: str = "en-us", words_per_minute: int = 150) -> bytes:
    """espeak-ng speech as WAV bytes (22.05 kHz mono; its stdout header has no real length)."""
    done = subprocess.run(["espeak-ng", "--stdout", "-v", voice, "-s", str(words_per_minute), text],
                          capture_output=True, check=True, timeout=60)
    return done.stdout


def convert(wav: bytes, fmt: str) -> bytes:
    """Re-encode WAV bytes to `fmt` ("amr" via sox, others via ffmpeg), pipes only."""
    if fmt == "amr":
        # 8 kHz mono at mode 7 (12.2 kbit/s), the usual bitrate of phone voice notes.
        # -D: no dither, so the same text always gives the same bytes (reproducible ASR tests).
        cmd = ["sox", "-D", "-t", "wav", "-", "-r", "8000", "-c", "1", "-C", "7", "-t", "amr-nb", "-"]
    else:
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", "pipe:0",
               *_FFMPEG_CODECS[fmt], "pipe:1"]
    done = subprocess.run(cmd, input=wav, capture_output=True, check=True, timeout=60)
    return done.stdout


def voice_note(text: str, platform: str, container: str | None = None) -> bytes:
    """English speech as `platform` would deliver it; `container` overrides (e.g. DingTalk "opus")."""
    return convert(speak_wav(text), container or PLATFORM_FORMATS[platform])


def wav_bytes(samples: np.ndarray, sample_rate: int = 16000) -> bytes:
    """float samples in [-1, 1] → 16-bit mono WAV bytes."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


def tone(seconds: float, freq: float = 440.0, amplitude: float = 0.3, sample_rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, amplitude: float, seed: int = 0, sample_rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(int(seconds * sample_rate))).astype(np.float32)


# Tiny but valid: 80 mels and a 1500-frame audio context are what whisper's feature pipeline
# produces for a 30 s window; a 51865-token vocabulary selects the multilingual tokenizer.
TINY_WHISPER_DIMS: dict[str, int] = {
    "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 16, "n_audio_head": 2, "n_audio_layer": 1,
    "n_vocab": 51865, "n_text_ctx": 64, "n_text_state": 16, "n_text_head": 2, "n_text_layer": 1,
}


def write_tiny_whisper_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save a random-weight Whisper in openai-whisper's checkpoint format to `path`."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(seed)
    model = Whisper(ModelDimensions(**TINY_WHISPER_DIMS))
    with torch.no_grad():
        # The decoder's positional embedding starts as torch.empty (real checkpoints overwrite
        # it): give it, like every weight, small finite random values.
        for parameter in model.parameters():
            torch.nn.init.normal_(parameter, std=0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": dict(TINY_WHISPER_DIMS), "model_state_dict": model.state_dict()}, path)
    return path
