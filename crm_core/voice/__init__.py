"""Voice notes → text: decode any platform's audio (`audio`), find or join the offline model
(`model_store`), and recognise speech through one `Transcriber` interface (`asr`). Importing
this package loads no model and imports neither faster-whisper nor torch."""
from crm_core.voice.asr import (
    BACKENDS,
    DEFAULT_ZH_PROMPT,
    Transcriber,
    Transcript,
    asr_status,
    build_transcriber,
)
from crm_core.voice.audio import DecodedAudio, decode_audio, probe_ffmpeg, sniff_format
from crm_core.voice.errors import VoiceError
from crm_core.voice.model_store import default_model_dir

__all__ = [
    "BACKENDS",
    "DEFAULT_ZH_PROMPT",
    "DecodedAudio",
    "Transcriber",
    "Transcript",
    "VoiceError",
    "asr_status",
    "build_transcriber",
    "decode_audio",
    "default_model_dir",
    "probe_ffmpeg",
    "sniff_format",
]
