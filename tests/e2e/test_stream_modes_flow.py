"""DingTalk Stream and Feishu long-connection modes end to end: crm-bot opens its connection
at the sandbox (DingTalk connections/open, Feishu callback/ws/endpoint, both with the configured
app credentials, then the WebSocket), a rep's message arrives as a frame and is acked, the reply
card goes out through the sandbox's open API, and a tap on it (a card frame) updates it in
place. `crm-bot simulate` drives Stream mode the same way."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from crm_core.db.models import InboundMessage, Lead
from sandbox.client import StreamDelivery
from sandbox.stack import LocalStack
from tests.e2e.conftest import REPS

REP = REPS["dingtalk"]


@pytest.fixture
def stream_cfg(cfg):  # noqa: ANN001, ANN201
    dingtalk = cfg.platforms.dingtalk.model_copy(update={"mode": "stream"})
    return cfg.model_copy(update={"platforms": cfg.platforms.model_copy(update={"dingtalk": dingtalk})})


@pytest.fixture
def stream_stack(stream_cfg, db, db_url):  # noqa: ANN001, ANN201
    with LocalStack(stream_cfg, db_url) as s:
        yield s


def test_message_and_card_tap_over_the_stream(stream_stack, db):  # noqa: ANN001
    stack = stream_stack
    res = stack.sim.send_text("dingtalk", REP, "记录杭州优品科技有限公司张总要采购CT设备,预算300万,3月招标")
    assert isinstance(res, StreamDelivery) and res.status_code == 200    # the frame was acked
    gateway = stack.sandbox.stream_gateway()
    assert [o["clientId"] for o in gateway.opened] == [stack.cfg.platforms.dingtalk.app_key]
    assert stack.settle()
    card_call = next(c for c in stack.sandbox.sent("dingtalk") if "新线索" in stack.sim.sent_as_text([c]))
    tap = stack.sim.tap("dingtalk", REP, card_call, "lead.confirm")
    assert tap.status_code == 200
    assert stack.settle()
    with db.uow() as s:
        lead = s.scalar(select(Lead))
        assert lead is not None and lead.budget_cny == 3_000_000
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2   # the note and the tap
    after = "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent("dingtalk"))
    assert "已保存为线索" in after and "已保存线索" in after


def test_wrong_app_secret_gets_no_connection(stream_cfg, db, db_url):  # noqa: ANN001
    from pydantic import SecretStr
    with LocalStack(stream_cfg, db_url) as stack:
        wrong = stack.cfg.platforms.dingtalk.model_copy(update={"app_secret": SecretStr("not-the-secret")})
        status, payload = stack.sandbox.stream_gateway().open_connection(
            {"clientId": wrong.app_key, "clientSecret": wrong.app_secret.get_secret_value()})
    assert status == 401 and payload["code"] == "InvalidAuthentication"


def test_simulate_command_in_stream_mode(tmp_path, monkeypatch):  # noqa: ANN001
    import yaml

    from bot.cli.simulate import simulate_cmd
    from tests.conftest import EXAMPLE
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["platforms"]["dingtalk"]["mode"] = "stream"
    path = tmp_path / "crm-bot.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CRM_BOT_DATA_DIR", str(tmp_path))
    out = CliRunner().invoke(simulate_cmd, ["--config", str(path), "--platform", "dingtalk",
                                            "--user", "manager7002", "帮助"])
    assert out.exit_code == 0, out.output
    assert "[HTTP 200]" in out.output and "查客户" in out.output


def test_remote_sandbox_pushes_frames_through_its_control_api(stream_stack):  # noqa: ANN001
    from sandbox.client import PlatformSimulator, RemoteSandbox
    sim = PlatformSimulator(stream_stack.cfg, stream_stack.url, RemoteSandbox(stream_stack.sandbox.url))
    mark = sim.mark()
    assert sim.send_text("dingtalk", REP, "帮助").status_code == 200
    assert stream_stack.settle()
    assert "查客户" in sim.sent_as_text(stream_stack.sandbox.sent("dingtalk", after=mark))


@pytest.fixture
def feishu_ws_stack(cfg, db, db_url):  # noqa: ANN001, ANN201
    feishu = cfg.platforms.feishu.model_copy(update={"mode": "long_connection"})
    long_cfg = cfg.model_copy(update={"platforms": cfg.platforms.model_copy(update={"feishu": feishu})})
    with LocalStack(long_cfg, db_url) as s:
        yield s


def test_feishu_long_connection_message_and_card_tap(feishu_ws_stack, db):  # noqa: ANN001
    stack, rep = feishu_ws_stack, REPS["feishu"]
    res = stack.sim.send_text("feishu", rep, "记录杭州优品科技有限公司张总要采购CT设备,预算300万,3月招标")
    assert isinstance(res, StreamDelivery) and res.status_code == 200     # lark's client acked the frame
    assert stack.settle()
    card_call = next(c for c in stack.sandbox.sent("feishu") if "新线索" in stack.sim.sent_as_text([c]))
    assert stack.sim.tap("feishu", rep, card_call, "lead.confirm").status_code == 200
    assert stack.settle()
    with db.uow() as s:
        assert s.scalar(select(Lead)).budget_cny == 3_000_000
    after = "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent("feishu"))
    assert "已保存为线索" in after and "已保存线索" in after
