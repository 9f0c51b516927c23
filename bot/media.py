"""Download the media a platform event points at (voice notes, files) with that platform's
client. A failed download becomes a VoiceError the rep can read, not a crash."""
from __future__ import annotations

import logging

from bot.events import InboundEvent
from bot.outbound.delivery import client_for
from bot.outbound.http import OutboundError
from crm_core.voice import VoiceError

log = logging.getLogger("crm_bot.media")
MAX_MEDIA_BYTES = 20 * 1024 * 1024


def fetch_media(rt, event: InboundEvent) -> bytes:  # noqa: ANN001
    media = event.media
    if media is None:
        raise VoiceError("corrupt", "event carries no media reference")
    client = client_for(rt, event.platform)
    try:
        if event.platform == "wecom":
            data, _ctype = client.download_media(media.key)
        elif event.platform == "dingtalk":
            data = client.download(media.key)
        else:
            data = client.download_resource(media.message_id or "", media.key)
    except OutboundError as err:
        log.warning("media download failed on %s: %s", event.platform, err)
        raise VoiceError("asr_failed", f"download failed: {type(err).__name__}",
                         user_message="语音文件下载失败了,请稍后重发一次,或直接打字。") from None
    if len(data) > MAX_MEDIA_BYTES:
        raise VoiceError("too_long", f"{len(data)} bytes")
    return data
