"""Report cards with a chart picture, end to end on each platform (the real server and workers
through the sandbox): the monthly report's chart is drawn, uploaded through the platform's image
API (WeCom media/upload, DingTalk oapi media/upload, Feishu im/v1/images; the sandbox checks
token, multipart form, size and PNG magic) once per picture, and shown with the card; with
reports.images off, or when the upload is refused, the card arrives as its text version; an
image id the platform does not know gets the card sent as text too. The monthly CLV
dashboard carries its channel chart the same way."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from cards.charts import render_png
from crm_core.config.reports import Reports
from crm_core.notices import MergeReport
from handlers.report_charts import merge_chart
from sandbox.cardjson import call_text
from sandbox.stack import LocalStack
from scheduler import jobs

OWNER = {"wecom": "zhang.wei", "dingtalk": "li.na", "feishu": "chen.jie"}
OTHER = {"wecom": "zhao.min", "dingtalk": "liu.yang", "feishu": "wang.fang"}     # someone else there
UPLOAD_API = {"wecom": "media/upload", "dingtalk": "media/upload", "feishu": "im/images"}
# a refusal of the picture itself (WeCom 40005 bad file type, DingTalk 40005, Feishu 234011)
REFUSED = {"wecom": "error:40005", "dingtalk": "error:40005", "feishu": "error:234011"}
REPORT = {"month": "2026-11", "records_before": 412, "records_after": 377, "groups_merged": 21,
          "duplicates_merged": 26, "duplicates_avoided": 9, "undone": 1, "by_source": {"展会": 14, "官网表单": 9},
          "by_trigger": {}, "reviews": {"opened": 5, "merged": 3, "rejected": 1, "open": 1},
          "minutes_per_duplicate": 6, "minutes_saved": 210}


def _report(stack: LocalStack, platform: str, key: str, to: dict[str, str] = OWNER) -> None:
    stack.rt.deliver([MergeReport(to_rep=to[platform], report=REPORT, dedupe_key=f"merge-report:{key}")])
    assert stack.settle()


def _cards(stack: LocalStack, platform: str, title: str = "客户去重月报") -> list[dict]:
    """Each report card as sent: its readable text and the picture id it shows ("" = none)."""
    out = []
    calls = stack.sandbox.sent(platform)
    for i, call in enumerate(calls):
        body = call.body
        if platform == "wecom" and body.get("msgtype") == "template_card":
            before = calls[i - 1].body if i else {}
            image = before.get("image", {}).get("media_id", "") if before.get("msgtype") == "image" else ""
            # WeCom: the picture is an image message right before its card
            out.append({"text": (call_text(calls[i - 1]) + "\n" if image else "") + call_text(call), "image": image})
        elif platform == "dingtalk" and call.api == "card/createAndDeliver":
            out.append({"text": call_text(call), "image": body["cardData"]["cardParamMap"]["chart"]})
        elif platform == "feishu" and body.get("msg_type") == "interactive":
            card = json.loads(body["content"])
            images = [e["img_key"] for e in card["body"]["elements"] if e.get("tag") == "img"]
            out.append({"text": call_text(call), "image": images[0] if images else ""})
    return [c for c in out if title in c["text"]]


def test_the_monthly_report_arrives_as_an_image_card(stack, platform):  # noqa: ANN001
    _report(stack, platform, "a")
    uploaded = stack.sandbox.uploaded_images(platform)
    assert len(uploaded) == 1
    image_id, info = next(iter(uploaded.items()))
    # the sandbox verified it: a PNG, the very picture of the report's chart
    assert info["content_type"] == "image/png"
    assert info["sha256"] == hashlib.sha256(render_png(merge_chart(REPORT))).hexdigest()
    [card] = _cards(stack, platform)
    assert card["image"] == image_id
    assert "[图片]" in card["text"] and "合并组数" in card["text"] and "21" in card["text"]
    # the same picture to someone else on the platform: no second upload
    _report(stack, platform, "b", OTHER)
    assert [c["image"] for c in _cards(stack, platform)] == [image_id, image_id]
    assert stack.sandbox.hits(platform, UPLOAD_API[platform]) == 1


def test_with_images_off_the_report_arrives_as_text(cfg, db, db_url, platform):  # noqa: ANN001
    off = cfg.model_copy(update={"reports": Reports(images=False)})
    with LocalStack(off, db_url) as stack:
        _report(stack, platform, "off")
        [card] = _cards(stack, platform)
        assert card["image"] == "" and "[图片]" not in card["text"]
        assert "去重前记录" in card["text"] and "412" in card["text"]
        assert stack.sandbox.hits(platform, UPLOAD_API[platform]) == 0


def test_a_refused_upload_sends_the_text_version(stack, platform):  # noqa: ANN001
    stack.sandbox.fail(platform, UPLOAD_API[platform], REFUSED[platform], count=1)
    _report(stack, platform, "refused")
    [card] = _cards(stack, platform)
    assert card["image"] == "" and "合并组数" in card["text"]
    assert stack.sandbox.hits(platform, UPLOAD_API[platform]) == 1
    assert stack.sandbox.uploaded_images(platform) == {}


def test_an_image_id_the_platform_does_not_know_is_dropped(stack, platform):  # noqa: ANN001
    """A cached id the platform no longer has (expired media, another app): the sandbox refuses
    the card or image message with it, the outbox forgets it and sends the card as text; the
    next report uploads the picture anew."""
    png = render_png(merge_chart(REPORT))
    key = f"chart-image:{platform}:{hashlib.sha256(png).hexdigest()}"
    stack.rt.kv.set(key, {"wecom": "3stale", "dingtalk": "@lADPstale", "feishu": "img_v3_stale"}[platform])
    _report(stack, platform, "stale")
    [card] = _cards(stack, platform)
    assert card["image"] == "" and "合并组数" in card["text"]
    assert stack.rt.kv.get(key) is None
    refused = [c for c in stack.sandbox.sent(platform, include_failed=True) if not c.ok]
    assert refused, "the sandbox took an image id it never issued"
    _report(stack, platform, "fresh")
    fresh = _cards(stack, platform)[-1]
    assert fresh["image"] and fresh["image"] in stack.sandbox.uploaded_images(platform)


def test_the_monthly_job_sends_each_supervisor_an_image_card(stack):  # noqa: ANN001
    """The scheduled merge report: 王芳 on Feishu and 刘洋 on DingTalk, each with the chart."""
    result = jobs.merge_report(stack.rt, datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc))
    assert stack.settle()
    assert result
    for platform in ("feishu", "dingtalk"):
        cards = [c for c in _cards(stack, platform) if "2026-11" in c["text"]]
        assert len(cards) == 1 and cards[0]["image"] in stack.sandbox.uploaded_images(platform)


def test_the_monthly_clv_dashboard_arrives_with_its_channel_chart(stack, platform):  # noqa: ANN001
    from crm_core.clv.report import ChannelRoi, ClvDashboard
    from crm_core.notices import ClvDashboardNotice
    from handlers.report_charts import clv_chart
    board = ClvDashboard(month="2026-11", model="last", model_label="末次触点", as_of=None, customers=12,
                         total_clv=860000.0, month_margin=91000.0, high_value_from=30000.0, at_risk=(),
                         at_risk_total=0, winbacks=(),
                         channels=(ChannelRoi("expo", "展会", 42000.0, 4.0, None, None),
                                   ChannelRoi("ads", "广告投放", 31000.0, 6.0, 12000.0, 2.6)))
    stack.rt.deliver([ClvDashboardNotice(to_rep=OWNER[platform], dashboard=board, dedupe_key="clv:2026-11")])
    assert stack.settle()
    [card] = _cards(stack, platform, "客户价值月报")
    [(image_id, info)] = stack.sandbox.uploaded_images(platform).items()
    chart = clv_chart(board)
    assert chart is not None and info["sha256"] == hashlib.sha256(render_png(chart)).hexdigest()
    assert card["image"] == image_id and "[图片]" in card["text"] and "展会" in card["text"]
