"""DingTalk card taps end to end, in HTTP and in Stream mode, through the strict sandbox: a lead
idles past its fuse, the supervisor card goes to 刘洋 on DingTalk as an instance of the card
template (created with callback settings), 刘洋 taps 转派给李娜, the tap reaches crm-bot (HTTP:
POSTed to the route crm-bot registered; Stream: a card frame on its subscribed topic), the lead is
李娜's, and the card is updated in place (`PUT /v1.0/card/instances`, same outTrackId). The same
card created without callback settings is refused by the sandbox."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from cards.render import render_dingtalk
from crm_core.db.models import Lead
from crm_core.notices import FuseSupervisor
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.fuse import scan_fuses
from crm_core.services.lead_input import LeadInput
from handlers.notify import default_renderers
from sandbox.client import StreamDelivery
from sandbox.stack import LocalStack

LIU_YANG, LI_NA = "manager7003", "manager7002"       # DingTalk ids in the example org


def dingtalk_cfg(cfg: Any, mode: str) -> Any:  # noqa: ANN401
    """The example config with DingTalk in `mode` and 李娜 also in 华南制造 (刘洋's team), so the
    supervisor card offers 转派给李娜."""
    org = cfg.org
    teams = [t.model_copy(update={"members": [*t.members, "li.na"]}) if t.id == "south-industry" else t
             for t in org.teams]
    dingtalk = cfg.platforms.dingtalk.model_copy(update={"mode": mode})
    return cfg.model_copy(update={"org": org.model_copy(update={"teams": teams}),
                                  "platforms": cfg.platforms.model_copy(update={"dingtalk": dingtalk})})


@pytest.fixture(params=["http", "stream"])
def stack(request, cfg, db, db_url) -> Iterator[LocalStack]:  # noqa: ANN001
    with LocalStack(dingtalk_cfg(cfg, request.param), db_url) as s:
        yield s


def idle_lead(rt: Any) -> int:  # noqa: ANN401
    data = LeadInput(source="chat", company="东莞精工制造有限公司", contact_name="周经理", phone="13912345678",
                     budget_cny=1_500_000, industry="制造", region="广东", product="数控机床")
    now = rt.clock()
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, data, actor="chen.jie", platform="feishu", now=now).lead
        give_lead(s, lead, rt.cfg.org.rep("chen.jie"), "south-industry", "规则 华南制造 → 陈杰", "system", now)
        return lead.id


def supervisor_card_sent(stack: LocalStack) -> Any:  # noqa: ANN401
    rt = stack.rt
    with rt.db.uow() as s:
        notices = scan_fuses(s, rt.cfg, rt.clock() + timedelta(hours=73))
    assert rt.deliver(notices) == len(notices)
    assert stack.settle()
    return next(c for c in stack.sandbox.sent("dingtalk", "card/createAndDeliver") if c.recipient == LIU_YANG)


def texts_to(stack: LocalStack, user: str) -> str:
    return "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent("dingtalk") if c.recipient == user)


def test_supervisor_taps_reassign_and_the_card_updates_in_place(stack: LocalStack, db: Any) -> None:  # noqa: ANN401
    lead_id = idle_lead(stack.rt)
    sent = supervisor_card_sent(stack)
    mode = stack.cfg.platforms.dingtalk.mode
    body = sent.body
    assert body["cardTemplateId"] == stack.cfg.platforms.dingtalk.card_template_id
    assert body["callbackType"] == mode.upper() and body["openSpaceId"] == f"dtv1.card//IM_ROBOT.{LIU_YANG}"
    assert ("callbackRouteKey" in body) == (mode == "http")
    assert "[转派给李娜]" in stack.sim.sent_as_text([sent])

    tap = stack.sim.tap("dingtalk", LIU_YANG, sent, "lead.reassign", to="li.na")
    if mode == "stream":
        assert isinstance(tap, StreamDelivery) and tap.ok            # a card frame, acked by crm-bot
    else:
        assert isinstance(tap, requests.Response) and tap.status_code == 200
        assert tap.request.url.split("?")[0].endswith("/callback/dingtalk/card")
    assert stack.settle()

    with db.uow() as s:
        assert s.get(Lead, lead_id).owner_rep_id == "li.na"
    assert "转派给你的线索" in texts_to(stack, LI_NA)
    (update,) = stack.sandbox.sent("dingtalk", "card/update")
    assert update.body["outTrackId"] == body["outTrackId"] and update.recipient == LIU_YANG
    shown = stack.sandbox.find_card("dingtalk", [body["outTrackId"]])["card"]
    assert shown["resolved"] == "true" and "转派给 李娜" in shown["result"] and not shown["btn1_text"]
    assert len(stack.sandbox.sent("dingtalk", "card/createAndDeliver")) == 2     # 刘洋's card + 陈杰's reminder


def test_the_same_card_without_callback_settings_is_refused(stack: LocalStack) -> None:
    rt = stack.rt
    idle_lead(rt)
    with rt.db.uow() as s:
        notices = scan_fuses(s, rt.cfg, rt.clock() + timedelta(hours=73))
    card = default_renderers().render(rt.cfg, next(n for n in notices if isinstance(n, FuseSupervisor)))
    assert card is not None and not isinstance(card, str) and card.buttons
    token = rt.channels["dingtalk"].client.tokens.get()
    body = {"cardTemplateId": rt.cfg.platforms.dingtalk.card_template_id, "outTrackId": f"{card.card_id}@manual",
            **render_dingtalk(card), "openSpaceId": f"dtv1.card//IM_ROBOT.{LIU_YANG}",
            "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT"}}       # no callbackType
    resp = requests.post(f"{rt.cfg.platforms.dingtalk.api_base}/v1.0/card/instances/createAndDeliver",
                         json=body, headers={"x-acs-dingtalk-access-token": token}, timeout=10)
    assert resp.status_code == 400 and resp.json()["code"] == "sandbox.card.noCallback"
    assert stack.sandbox.sent("dingtalk", "card/createAndDeliver") == []
