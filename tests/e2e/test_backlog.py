"""Fast ack, then work: with the workers stopped, 1,000 callbacks are acknowledged and kept
in real Redis; starting the workers processes every one exactly once."""
from __future__ import annotations

import os
import uuid

import pytest
import redis
from sqlalchemy import func, select

from crm_core.db.models import InboundMessage
from crm_core.kv.redis_backend import RedisKV
from sandbox.stack import LocalStack

REDIS_URL = os.environ.get("CRM_BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
N = 1000


@pytest.fixture
def redis_kv():  # noqa: ANN201
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as err:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(err).__name__}")
    prefix = f"test-backlog-{uuid.uuid4().hex[:8]}"
    kv = RedisKV.from_url(REDIS_URL, prefix)
    yield kv
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        client.delete(key)


@pytest.mark.redis
@pytest.mark.slow
def test_thousand_callbacks_survive_stopped_workers(cfg, db, db_url, redis_kv):
    with LocalStack(cfg, db_url, kv=redis_kv, workers=False) as stack:
        for i in range(N):
            res = stack.sim.send_text("wecom", f"visitor-{i:04d}", f"你好 {i}", msg_id=str(10_000_000 + i))
            assert res.status_code == 200
        assert redis_kv.queue("inbound").stats().ready == N      # acknowledged, nothing processed yet
        with db.uow() as s:
            assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0
        stack.start_workers()
        assert stack.settle(timeout=240, quiet=1.0)
        with db.uow() as s:
            rows = s.execute(select(InboundMessage.event_id, InboundMessage.status)).all()
        assert len(rows) == N and {st for _, st in rows} == {"done"}
        assert len({e for e, _ in rows}) == N
        replies = stack.sandbox.sent("wecom", "message/send")
        assert sorted(c.recipient for c in replies) == [f"visitor-{i:04d}" for i in range(N)]
