"""When a report card's chart goes out as a picture and when as text (bot/outbound/images.py):
switched off, a platform without uploads, a refused upload, a transient failure (retried, then
text on the last attempt), and one upload per platform and picture."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from bot.outbound.http import PermanentError, TransientError
from bot.outbound.images import ChartImages
from cards.model import Card, Chart, Series
from crm_core.config.reports import Reports
from crm_core.kv import connect

CARD = Card(card_id="merge-report-2026-11", title="2026-11 客户去重月报",
            chart=Chart("bar", "客户去重概况", ("去重前记录", "去重后记录"), (Series("", (412, 377)),), unit="条"))


class Channel(SimpleNamespace):
    def __init__(self, name: str = "wecom", ttl: float = 3600.0, fail: Exception | None = None) -> None:
        super().__init__(name=name, platform=SimpleNamespace(image_id_ttl=ttl), fail=fail, uploads=[])

    def upload_image(self, png: bytes) -> str:
        self.uploads.append(png)
        if self.fail is not None:
            raise self.fail
        return f"id-{len(self.uploads)}"


@pytest.fixture
def kv():  # noqa: ANN201
    store = connect(None, f"t{uuid.uuid4().hex[:6]}")
    yield store
    store.close()


def test_uploaded_once_per_platform_and_picture(kv):  # noqa: ANN001
    images = ChartImages(kv, lambda: Reports())
    wecom, feishu = Channel("wecom"), Channel("feishu")
    assert images.image_for(wecom, CARD, last_attempt=False) == "id-1"
    assert images.image_for(wecom, CARD, last_attempt=False) == "id-1"
    assert images.image_for(feishu, CARD, last_attempt=False) == "id-1"
    assert len(wecom.uploads) == 1 and len(feishu.uploads) == 1 and wecom.uploads[0].startswith(b"\x89PNG")
    images.forget(wecom, CARD)
    assert images.image_for(wecom, CARD, last_attempt=False) == "id-2"


@pytest.mark.parametrize("settings, channel, card", [
    (Reports(images=False), Channel(), CARD),                     # switched off
    (Reports(), Channel(ttl=0), CARD),                            # a platform that takes no uploads
    (Reports(), Channel(), Card(card_id="plain", title="无图卡片")),  # nothing to draw
    (Reports(font="/nonexistent/cjk.ttf"), Channel(), CARD),      # no font: text, not empty boxes
])
def test_text_version_without_an_upload(kv, settings, channel, card):  # noqa: ANN001
    assert ChartImages(kv, lambda: settings).image_for(channel, card, last_attempt=False) is None
    assert channel.uploads == []


def test_a_refused_upload_means_text(kv):  # noqa: ANN001
    channel = Channel(fail=PermanentError("bad file type", platform="wecom", api="media/upload", code=40005))
    assert ChartImages(kv, lambda: Reports()).image_for(channel, CARD, last_attempt=False) is None


def test_a_transient_failure_is_retried_then_text_on_the_last_attempt(kv):  # noqa: ANN001
    channel = Channel(fail=TransientError("HTTP 503", platform="feishu", api="im/images"))
    images = ChartImages(kv, lambda: Reports())
    with pytest.raises(TransientError):
        images.image_for(channel, CARD, last_attempt=False)
    assert images.image_for(channel, CARD, last_attempt=True) is None
    assert len(channel.uploads) == 2


def test_parallel_sends_of_one_picture_upload_it_once(kv):  # noqa: ANN001
    import threading
    import time

    class Slow(Channel):
        def upload_image(self, png: bytes) -> str:
            time.sleep(0.3)
            return super().upload_image(png)

    images, channel, got = ChartImages(kv, lambda: Reports()), Slow("dingtalk"), []
    threads = [threading.Thread(target=lambda: got.append(images.image_for(channel, CARD, last_attempt=False)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["id-1"] * 3 and len(channel.uploads) == 1
