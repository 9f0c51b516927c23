"""Chart pictures for cards on their way out: the outbox asks `ChartImages.image_for` just
before a card with a `chart` is sent. The picture is drawn at send time from the chart spec the
outbound row keeps (so a retry after a restart draws the same bytes: `cards.charts` is
deterministic), and uploaded once per platform and picture: the platform's id is kept in the
KV under the PNG's SHA-256 for as long as the platform lets it be reused.

No picture (reports.images off, no CJK font, an upload the platform refuses, or the last
attempt failing) means None: the card goes out as its text version. `forget` drops a cached id
the platform no longer takes.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from bot.outbound.http import OutboundError, PermanentError
from bot.platforms.interface import Channel
from cards.charts import ChartUnavailable, render_png
from cards.model import Card
from crm_core.config.reports import Reports
from crm_core.kv.base import KV

log = logging.getLogger("crm_bot.outbound")

KEY_PREFIX = "chart-image"
UPLOAD_LOCK_TTL = 15.0         # one upload call (≤ 13 s with its timeouts)


class ChartImages:
    def __init__(self, kv: KV, settings: Callable[[], Reports]) -> None:
        """`settings`: the running config's `reports` section (read at each send: live)."""
        self.kv = kv
        self.settings = settings
        self._warned: set[str] = set()

    def image_for(self, channel: Channel, card: Card, *, last_attempt: bool) -> str | None:
        """The platform's id of `card.chart`'s picture, uploading it if this platform has not
        got it yet; None to send the text version. A transient upload failure is raised (the
        outbox retries the card) unless this is the last attempt."""
        settings = self.settings()
        if card.chart is None or not settings.images or channel.platform.image_id_ttl <= 0:
            return None
        try:
            png = render_png(card.chart, font=settings.font or None)
        except ChartUnavailable as err:
            self._warn_once(str(err), "charts go out as text: %s", err)
            return None
        key = self.key(channel, png)
        cached = self.kv.get(key)
        if cached:
            return str(cached)
        # the monthly report goes to every supervisor at once, through parallel workers: one
        # uploads, the others wait for its id (or upload themselves if it takes too long)
        lock = self.kv.lock(f"{key}:upload", ttl=UPLOAD_LOCK_TTL)
        held = lock.acquire(blocking=True, timeout=UPLOAD_LOCK_TTL)
        try:
            cached = self.kv.get(key)
            return str(cached) if cached else self._upload(channel, card, png, key, last_attempt)
        finally:
            if held:
                lock.release()

    def _upload(self, channel: Channel, card: Card, png: bytes, key: str, last_attempt: bool) -> str | None:
        try:
            image = channel.upload_image(png)
        except PermanentError as err:
            log.warning("chart of card %s not uploaded to %s, sent as text: %s", card.card_id, channel.name, err)
            return None
        except OutboundError as err:
            if not last_attempt:
                raise
            log.warning("chart of card %s not uploaded to %s after the last attempt, sent as text: %s",
                        card.card_id, channel.name, err)
            return None
        self.kv.set(key, image, ttl=channel.platform.image_id_ttl)
        log.info("chart of card %s uploaded to %s (%d bytes)", card.card_id, channel.name, len(png))
        return image

    def forget(self, channel: Channel, card: Card) -> None:
        """Drop the cached id of this card's picture (the platform refused a send with it)."""
        settings = self.settings()
        if card.chart is None:
            return
        try:
            png = render_png(card.chart, font=settings.font or None)
        except ChartUnavailable:
            return
        self.kv.delete(self.key(channel, png))

    @staticmethod
    def key(channel: Channel, png: bytes) -> str:
        return f"{KEY_PREFIX}:{channel.name}:{hashlib.sha256(png).hexdigest()}"

    def _warn_once(self, what: str, msg: str, *args: object) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning(msg, *args)
