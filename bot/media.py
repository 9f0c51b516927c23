"""Download the media a platform event points at (voice notes, files) through that
platform's channel. A failed download becomes a VoiceError the rep can read, not a crash."""
from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.events import InboundEvent
from bot.outbound.http import OutboundError
from bot.platforms.interface import Channel
from crm_core.voice import VoiceError

log = logging.getLogger("crm_bot.media")
MAX_MEDIA_BYTES = 20 * 1024 * 1024


def fetch_media(channels: Mapping[str, Channel], event: InboundEvent) -> bytes:
    media = event.media
    channel = channels.get(event.platform)
    if media is None or channel is None:
        raise VoiceError("corrupt", "event carries no media reference")
    try:
        data = channel.download_media(media)
    except OutboundError as err:
        log.warning("media download failed on %s: %s", event.platform, err)
        raise VoiceError("asr_failed", f"download failed: {type(err).__name__}",
                         user_message="语音文件下载失败了,请稍后重发一次,或直接打字。") from None
    if len(data) > MAX_MEDIA_BYTES:
        raise VoiceError("too_long", f"{len(data)} bytes")
    return data
