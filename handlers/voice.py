"""Voice notes: tell the rep we're listening, fetch the audio, decode, transcribe (or take
DingTalk's own recognition text), then the same draft flow as typed text."""
from __future__ import annotations

import logging

from bot.events import EventKind
from crm_core.authz import Action
from crm_core.services.voice_words import rep_crm_words
from crm_core.voice import VoiceError, decode_audio
from crm_core.voice.pipeline import VoicePipeline, VoiceResult
from handlers.capture import capture_message
from handlers.context import Context, Reply
from handlers.registry import Registry

log = logging.getLogger("crm_bot.voice")
LISTENING = "正在识别语音…"


def heard_note(ctx: Context) -> tuple[str, VoiceResult | None]:
    """The note's text, and what the pipeline read from the audio (None: DingTalk's own text)."""
    media = ctx.event.media
    if media is not None and media.recognition and media.recognition.strip():
        return media.recognition.strip(), None    # DingTalk already recognised it
    if media is None or ctx.fetch_media is None:
        raise VoiceError("corrupt", "voice event without media")
    ctx.send_now(Reply(LISTENING))
    audio = ctx.fetch_media(ctx.event)
    decoded = decode_audio(audio, max_seconds=ctx.cfg.voice.max_seconds)
    words = None
    if ctx.cfg.voice.crm_hotwords:
        with ctx.db.uow() as s:
            words = rep_crm_words(s, ctx.me.id, ctx.cfg.products)
    pipeline = VoicePipeline(ctx.services.transcriber, review_below=ctx.cfg.voice.review_below)
    result = pipeline.run(decoded, now=ctx.now, words=words, industries=ctx.cfg.industries)
    log.info("voice note: %.1f s heard in %.1f s, confidence %s, review %s, borrowed %d", decoded.duration_s,
             result.seconds, result.heard.mean_confidence, sorted(result.review), len(result.borrowed))
    return result.transcript, result


def voice_note(ctx: Context) -> list[Reply]:
    ctx.require(Action.CREATE_LEAD)            # before the audio is fetched
    try:
        text, heard = heard_note(ctx)
    except VoiceError as err:
        log.info("voice note from %s not usable: %s (%s)", ctx.actor, err.code, err.detail)
        return [Reply(err.user_message)]
    media = ctx.event.media
    ref = f"{ctx.event.platform}:{media.key}" if media else None
    return capture_message(ctx, text, source="voice", transcript=text, audio_ref=ref, heard=heard,
                           empty_reply=f"识别到:「{text}」\n但没找到客户信息。可以再说一遍,或直接打字。")


def register(registry: Registry) -> None:
    registry.add_kind(EventKind.VOICE, voice_note)
