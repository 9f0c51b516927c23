"""`crm-bot scheduler run JOB [--at TIME] [--dry-run]` (SQLite and PostgreSQL, frozen clock):
a dry run lists what it would send and leaves the database and the KV exactly as they were;
a real run as of a given time does the work once and becomes the job's last result; `--at`
before the deadline finds nothing; bad input is one clear line. With the embedded store of a
running server, `scheduler jobs`, `queue stats` and a real `scheduler run` say in one line that
they can't, instead of showing this process's empty view."""
from __future__ import annotations

import uuid
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli.jobs import run_job_cmd
from bot.cli.queue import queue_stats
from bot.cli.run import scheduler_cmd
from bot.job_runs import run_job_now
from bot.runtime import Runtime
from crm_core.db.models import AuditLog, Lead, OutboundMessage, Reminder
from crm_core.kv import EmbeddedKV
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput
from scheduler.runner import job_lines, job_status


def overdue_lead(rt, clock) -> int:  # noqa: ANN001
    """A lead assigned 80 hours ago and never touched: its 72-hour fuse has blown."""
    then = clock.now - timedelta(hours=80)
    data = {"source": "chat", "company": f"杭州{uuid.uuid4().hex[:4]}医疗器械有限公司", "contact_name": "王总",
            "phone": "13812345678", "budget_cny": 500_000}
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, LeadInput(**data), actor="zhang.wei", platform="wecom", now=then).lead
        give_lead(s, lead, rt.cfg.org.rep("zhang.wei"), "east-medical", "测试分配", "system", then)
        return lead.id


def counts(rt) -> tuple[int, int, int, int]:  # noqa: ANN001
    with rt.db.uow() as s:
        return (s.scalar(select(func.count()).select_from(Reminder)),
                s.scalar(select(func.count()).select_from(OutboundMessage)),
                s.scalar(select(func.count()).select_from(AuditLog)),
                s.scalar(select(func.max(Lead.fuse_level))))


def test_dry_run_shows_and_changes_nothing_then_a_real_run_works_once(runtime, clock) -> None:  # noqa: ANN001
    lead_id = overdue_lead(runtime, clock)
    before = counts(runtime)
    kept = (clock.now - timedelta(hours=1)).isoformat()
    runtime.kv.set("health:refresh:last", kept)
    dry = run_job_now(runtime, "fuse_scan", clock.now, dry_run=True)
    assert dry.ok and dry.result == {"notices": 2, "sent": 2}, dry
    assert [line.split(":")[0] for line in dry.would_send] == ["→ 张伟(企业微信)", "→ 王芳(飞书)"]
    assert all(f"#{lead_id}" in line or "超时" in line for line in dry.would_send), dry.would_send
    assert counts(runtime) == before                                # nothing written, nothing queued
    assert runtime.kv.queue("outbound").stats().ready == 0 and job_status(runtime, "fuse_scan") is None
    refresh = run_job_now(runtime, "health_refresh", clock.now, dry_run=True)
    assert refresh.ok and runtime.kv.get("health:refresh:last") == kept      # its KV write stayed in memory
    early = run_job_now(runtime, "fuse_scan", clock.now - timedelta(hours=10), dry_run=True)
    assert early.ok and early.would_send == []                      # as of 70 hours: not due yet
    real = run_job_now(runtime, "fuse_scan", clock.now)
    assert real.ok and real.result == {"notices": 2, "sent": 2}
    reminders, outbound, audits, level = counts(runtime)
    assert (reminders, outbound, level) == (before[0] + 2, before[1] + 2, 2) and audits == before[2] + 1
    status = job_status(runtime, "fuse_scan")
    assert status is not None and status["manual"] and status["ok"]
    assert "ok" in next(line for line in job_lines(runtime) if line.startswith("fuse_scan"))
    again = run_job_now(runtime, "fuse_scan", clock.now)            # the same step is never sent twice
    assert again.result == {"notices": 0, "sent": 0}


def test_cli_output_and_refusals(runtime, clock) -> None:  # noqa: ANN001
    overdue_lead(runtime, clock)
    cli = CliRunner()
    out = cli.invoke(run_job_cmd, ["fuse_scan", "--dry-run"], obj=runtime)
    assert out.exit_code == 0, out.output
    assert "演练（不发送、不改数据）：fuse_scan" in out.output and "将发送 2 条：" in out.output
    assert "→ 张伟（企业微信）" in out.output and "已全部撤销" in out.output
    later = cli.invoke(run_job_cmd, ["fuse_scan", "--dry-run", "--at", "2026-11-20T09:00"], obj=runtime)
    assert later.exit_code == 0 and "将发送 0 条。" in later.output and "2026-11-20 09:00" in later.output
    for bad in (["nosuchjob"], ["fuse_scan", "--at", "tomorrow"]):
        res = cli.invoke(run_job_cmd, bad, obj=runtime)
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    real = cli.invoke(run_job_cmd, ["fuse_scan"], obj=runtime)
    assert real.exit_code == 0 and "已运行：fuse_scan" in real.output and '"sent": 2' in real.output


def test_embedded_store_of_a_running_server_is_named_not_faked(cfg, db, tmp_path) -> None:  # noqa: ANN001
    owner = EmbeddedKV(prefix="t", path=tmp_path / "kv.sqlite3")            # the running server's store
    mine = EmbeddedKV(prefix="t", path=tmp_path / "kv.sqlite3", if_busy="memory")
    assert mine.busy
    rt = Runtime(cfg=cfg, db=db, kv=mine)
    try:
        cli = CliRunner()
        for cmd, args in ((scheduler_cmd, ["jobs"]), (queue_stats, []), (run_job_cmd, ["fuse_scan"])):
            res = cli.invoke(cmd, args, obj=rt)
            assert res.exit_code == 1, (args, res.output)
            lines = res.output.strip().splitlines()
            assert len(lines) == 1 and "Redis" in lines[0] and "crm-bot serve" in lines[0], res.output
            assert "never run" not in res.output and "inbound" not in res.output
        dry = cli.invoke(run_job_cmd, ["fuse_scan", "--dry-run"], obj=rt)             # a dry run still works
        assert dry.exit_code == 0, dry.output
    finally:
        rt.close_clients()
        mine.close()
        owner.close()


def test_another_instance_sees_the_run_through_redis(cfg, db, clock, redis_url) -> None:  # noqa: ANN001
    """Two processes of one deployment (PostgreSQL/SQLite + Redis): what one ran, the other's
    `scheduler jobs` and `queue stats` show, as the running deployment's state."""
    from bot.cli.queue import queue_stats
    from crm_core.kv import RedisKV
    from tests.integration.conftest import KVStore
    store = KVStore("redis", redis_url)
    server = Runtime(cfg=cfg, db=db, kv=store.client(), clock=clock)
    admin = Runtime(cfg=cfg, db=db, kv=store.client(), clock=clock)
    try:
        assert isinstance(admin.kv, RedisKV)
        overdue_lead(server, clock)
        assert run_job_now(server, "fuse_scan", clock.now).ok          # the server's run (its notices queued)
        cli = CliRunner()
        jobs = cli.invoke(scheduler_cmd, ["jobs"], obj=admin)
        line = next(x for x in jobs.output.splitlines() if x.startswith("fuse_scan"))
        assert jobs.exit_code == 0 and "never run" not in line and "ok" in line, jobs.output
        stats = cli.invoke(queue_stats, [], obj=admin)
        outbound = next(x for x in stats.output.splitlines() if x.startswith("outbound "))
        assert stats.exit_code == 0 and outbound.split()[1] == "2", stats.output    # 2 ready to send
    finally:
        server.close_clients()
        admin.close_clients()
        store.cleanup()
