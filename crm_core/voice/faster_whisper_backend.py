"""faster-whisper (CTranslate2) backend, the default: int8 on CPU, local model dirs only.
With no model path configured it uses the packaged Whisper base model joined by
`model_store`; it never downloads anything."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crm_core.voice.asr import Transcriber
from crm_core.voice.audio import DecodedAudio
from crm_core.voice.errors import VoiceError
from crm_core.voice.model_store import default_model_dir

# Silero VAD (bundled with faster-whisper) drops silence and noise before decoding: faster on
# notes with pauses, and Whisper cannot hallucinate over the parts it never sees.
_VAD_PARAMETERS = {"min_silence_duration_ms": 500, "speech_pad_ms": 300}


class FasterWhisperTranscriber(Transcriber):
    backend = "faster-whisper"

    def _load(self) -> Any:
        # Defensive: a bare model name would make huggingface_hub try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        model_dir = self._model_dir()
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise VoiceError("asr_disabled", "faster-whisper is not installed") from exc
        try:
            model = WhisperModel(str(model_dir), device="cpu", compute_type=self.settings.compute_type,
                                 cpu_threads=self.settings.threads, num_workers=1, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise VoiceError("asr_disabled", f"cannot load CTranslate2 model from {model_dir}: {exc}") from exc
        self.model_source = str(model_dir)
        return model

    def _model_dir(self) -> Path:
        if not self.settings.model_path:
            return default_model_dir(self.settings.cache_dir, self.settings.data_dir)
        path = Path(self.settings.model_path)
        if not (path / "model.bin").is_file():
            raise VoiceError("asr_disabled", f"no CTranslate2 model.bin in {path}")
        return path

    def _transcribe(self, model: Any, audio: DecodedAudio, language: str | None) -> tuple[str, str]:
        if language is None:
            _, _, probabilities = model.detect_language(audio.samples)
            language = self.pick_language(probabilities)
        segments, info = model.transcribe(
            audio.samples, language=language, task="transcribe", beam_size=self.settings.beam_size,
            vad_filter=True, vad_parameters=_VAD_PARAMETERS, condition_on_previous_text=False,
            without_timestamps=True, initial_prompt=self.prompt_for(language),
            # Greedy/beam only, no sampling fallback: the same note always gives the same text
            # (reproducible drafts and tests); condition_on_previous_text=False already guards loops.
            temperature=0.0)
        # `segments` is lazy: decoding happens while joining, inside the caller's run lock.
        return "".join(segment.text for segment in segments), info.language
