"""openai-whisper (PyTorch) backend, an optional extra: loads a local checkpoint file named in
the admin config with `whisper.load_model(path)`. torch and whisper are imported only when
the model is loaded, so the service runs without them."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from crm_core.voice.asr import Decoded, Transcriber
from crm_core.voice.audio import DecodedAudio
from crm_core.voice.errors import VoiceError

_INSTALL_HINT = "pip install torch==2.13.0 (CPU build) then the crm-bot[openai-whisper] extra"


class OpenAIWhisperTranscriber(Transcriber):
    backend = "openai-whisper"

    def _load(self) -> Any:
        checkpoint = self._checkpoint_path()
        try:
            import torch
            import whisper
        except ImportError as exc:
            raise VoiceError("asr_disabled", f"openai-whisper is not installed: {_INSTALL_HINT}") from exc
        torch.set_num_threads(self.settings.threads)
        try:
            # A file path (never a model name) so whisper cannot reach for its download URL.
            model = whisper.load_model(str(checkpoint), device="cpu")
        except Exception as exc:  # noqa: BLE001 - a bad file raises anything from pickle/zip/torch
            raise VoiceError("asr_disabled", f"cannot load whisper checkpoint {checkpoint}: {exc}") from exc
        self.model_source = str(checkpoint)
        return model

    def _checkpoint_path(self) -> Path:
        if not self.settings.model_path:
            raise VoiceError("asr_disabled", "openai-whisper needs model_path: a local checkpoint file (.pt)")
        path = Path(self.settings.model_path)
        if not path.is_file():
            raise VoiceError("asr_disabled", f"whisper checkpoint not found: {path}")
        return path

    def _detect(self, model: Any, audio: DecodedAudio) -> list[tuple[str, float]]:
        import whisper

        if not model.is_multilingual:
            return [("en", 1.0)]
        window = whisper.pad_or_trim(audio.samples)
        mel = whisper.log_mel_spectrogram(window, n_mels=model.dims.n_mels).to(model.device)
        _, probabilities = model.detect_language(mel)
        return list(probabilities.items())

    def _decode(self, model: Any, audio: DecodedAudio, language: str, prompt: str | None, careful: bool) -> Decoded:
        import whisper

        options: dict[str, Any] = {"beam_size": self.settings.beam_size} if self.settings.beam_size > 1 else {}
        result = whisper.transcribe(
            model, audio.samples, language=language, task="transcribe", fp16=False, verbose=None,
            condition_on_previous_text=False, initial_prompt=prompt, temperature=0.0, **options)
        segments = result.get("segments") or []
        text = "".join(str(seg.get("text", "")) for seg in segments) if segments else str(result.get("text", ""))
        confidence = [math.exp(float(seg.get("avg_logprob", 0.0))) for seg in segments
                      for _ in str(seg.get("text", ""))] if segments else None
        return Decoded(text, str(result.get("language") or language), confidence)
