"""Heartbeat without spam, with the example config as shipped (issue 15: two supervisors got a
【心跳】 test message every 5 minutes): over two hours of healthy heartbeats the only probe
messages go to the Feishu ops group, and no configured person receives anything on any
platform; a person on an alert route hears only when a channel fails and when it recovers."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.runtime import Runtime
from crm_core.kv import EmbeddedKV
from sandbox.cardjson import call_text
from sandbox.server import SandboxServer
from sandbox.state import SandboxCredentials
from tests.integration.test_heartbeat import STEP, Heartbeats, traffic


@pytest.fixture
def srv(cfg, clock) -> Iterator[SandboxServer]:  # noqa: ANN001
    server = SandboxServer(SandboxCredentials.from_config(cfg), clock=lambda: clock.now.timestamp(),
                           hang_seconds=0.2).start()
    yield server
    server.stop()


@pytest.fixture
def rt(cfg, srv, db, clock) -> Iterator[Runtime]:  # noqa: ANN001
    """The example config unchanged but for the API addresses (the sandbox's ports)."""
    base, p = srv.base_urls(), cfg.platforms
    platforms = p.model_copy(update={
        "wecom": p.wecom.model_copy(update={"api_base": base["wecom"]}),
        "dingtalk": p.dingtalk.model_copy(update={"api_base": base["dingtalk"], "oapi_base": base["dingtalk_oapi"]}),
        "feishu": p.feishu.model_copy(update={"api_base": base["feishu"]})})
    kv = EmbeddedKV(prefix=f"t{uuid.uuid4().hex[:6]}", clock=lambda: clock.now.timestamp())
    runtime = Runtime(cfg=cfg.model_copy(update={"platforms": platforms}), db=db, kv=kv, clock=clock)
    yield runtime
    runtime.close_clients()


def people(cfg) -> set[tuple[str, str]]:  # noqa: ANN001
    return {(plat, uid) for r in cfg.org.reps for plat, uid in r.platform_ids.items()}


def to_people(srv: SandboxServer, cfg) -> list[str]:  # noqa: ANN001
    who = people(cfg)
    return [call_text(c) for plat in ("wecom", "dingtalk", "feishu") for c in srv.sent(plat)
            if c.ok and (plat, c.recipient) in who]


def test_example_config_probes_only_the_ops_group_and_tells_people_only_of_changes(rt, srv, clock) -> None:  # noqa: ANN001
    hb = Heartbeats(rt, clock)
    start = clock.now
    hb.run_until(start + timedelta(hours=2))
    assert all(ch == {"wecom": "ok", "dingtalk": "ok", "feishu": "ok"} for _, ch in hb.runs)
    assert to_people(srv, rt.cfg) == []                                       # 24 heartbeats, nobody disturbed
    probes = [c for c in srv.sent("feishu") if c.ok and c.recipient == "oc_ops_chat" and "【心跳】" in call_text(c)]
    assert len(probes) == len(hb.runs) == 24
    # Feishu's credentials are refused: its alert route is 王芳 on WeCom, who hears of it once, then of the recovery
    srv.fail("feishu", "tenant_access_token", "error:99991663")
    rt.kv.delete(rt.channels["feishu"].client.tokens.key)
    broke = clock.now
    hb.run_until(broke + timedelta(minutes=25))
    told = to_people(srv, rt.cfg)
    assert len(told) == 1 and "【告警】" in told[0] and "飞书" in told[0], told
    srv.fail("feishu", "tenant_access_token", "ok")
    hb.run_until(clock.now + 3 * STEP)
    told = to_people(srv, rt.cfg)
    assert len(told) == 2 and "【恢复】" in told[1], told
    hb.run_until(clock.now + timedelta(hours=1))
    assert len(to_people(srv, rt.cfg)) == 2                                  # quiet again
