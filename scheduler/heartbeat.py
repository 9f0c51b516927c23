"""Channel heartbeat, per enabled platform: the outbound leg (access token, a test message
to `alerts.ops_chats[platform]`) and the inbound leg (worker alive, inbound queue backlog,
callbacks arriving). A failing channel becomes an incident in the KV; once it has failed
for `fail_for_minutes` ONE alert goes over the platform's alert route naming the failed leg,
reminders follow every `reminder_minutes`, and recovery sends one 恢复 message with the
outage duration. `decide` is the pure state machine; `run_heartbeat` is the job."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from crm_core.kv.keys import INBOUND_QUEUE, LAST_CALLBACK_KEY, WORKER_BEAT_KEY
from crm_core.clock import local
from crm_core.worktime import clock_for
from scheduler.alerts import AlertFailed, AlertMessage, deliver_alert
from scheduler.context import ChannelBusy, ChannelError, ChannelTokenError, JobContext

log = logging.getLogger("crm_bot.heartbeat")

# Fault-tree order: the first failing leg is the one named as the cause (a dead worker
# explains a backlog; a token failure explains a failed send).
LEGS = ("token", "send", "worker", "backlog", "callback")
LEG_LABELS = {"token": "获取访问令牌(access_token)失败", "send": "发送消息接口失败",
              "worker": "消息处理进程(worker)未运行", "backlog": "消息队列积压",
              "callback": "收不到平台回调"}
LEG_HINTS = {"token": "请检查应用 Secret 是否被重置、服务器 IP 是否在平台白名单内。",
             "send": "平台发送接口报错;未发出的消息会自动重试。",
             "worker": "请检查「crm-bot worker」(或「crm-bot serve」)进程是否在运行。",
             "backlog": "可用命令「crm-bot queue stats」查看,「crm-bot queue drain」强制处理。",
             "callback": "请检查回调地址、网络和平台后台的「接收消息」配置。"}
INCIDENT_KEY = "heartbeat:incident:{platform}"
LAST_KEY = "heartbeat:last:{platform}"
WATCH_KEY = "heartbeat:watch:{platform}"     # when the heartbeat began watching the channel
STATE_TTL = 30 * 86400.0


@dataclass(frozen=True)
class Probe:
    platform: str
    failures: dict[str, str]            # leg -> detail, in LEGS order; empty = healthy

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def leg(self) -> str | None:
        return next(iter(self.failures), None)


@dataclass
class Incident:
    since: float                         # epoch seconds of the first failing check
    legs: list[str] = field(default_factory=list)
    detail: str = ""
    alerted_at: float | None = None
    reminded_at: float | None = None
    reminders: int = 0

    @classmethod
    def from_json(cls, raw: str | None) -> "Incident | None":
        try:
            return cls(**json.loads(raw)) if raw else None
        except (ValueError, TypeError):
            return None


def decide(incident: Incident | None, probe: Probe, now: float, alerts: Any) -> tuple[Incident | None, str | None]:
    """The next incident state and what to send: "alert", "reminder", "recovery" or None.
    Pure: the caller only commits the new state once the message went out."""
    if probe.ok:
        if incident is None or incident.alerted_at is None:
            return None, None            # healthy, or a blip shorter than fail_for: no noise
        return None, "recovery"
    legs, detail = list(probe.failures), "; ".join(probe.failures.values())
    if incident is None:
        incident = Incident(since=now)
    incident = Incident(**{**asdict(incident), "legs": legs, "detail": detail})
    if incident.alerted_at is None:
        due = now - incident.since >= alerts.fail_for_minutes * 60
        return incident, "alert" if due else None
    last = incident.reminded_at or incident.alerted_at
    return incident, "reminder" if now - last >= alerts.reminder_minutes * 60 else None


def human_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} 秒"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} 分钟"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} 小时 {minutes} 分钟" if minutes else f"{hours} 小时"
    days, hours = divmod(hours, 24)
    return f"{days} 天 {hours} 小时" if hours else f"{days} 天"


def compose(kind: str, platform: str, incident: Incident, now: float, tz: str,
            label: str | None = None) -> AlertMessage:
    """The alert / reminder / recovery text, in Chinese, naming the failed leg."""
    name, leg = label or platform, (incident.legs or ["send"])[0]
    label, took = LEG_LABELS[leg], human_duration(now - incident.since)
    start = local(datetime.fromtimestamp(incident.since, timezone.utc), tz).strftime("%m-%d %H:%M")
    if kind == "recovery":
        end = local(datetime.fromtimestamp(now, timezone.utc), tz).strftime("%m-%d %H:%M")
        title = f"【恢复】{name}通道已恢复,故障持续 {took}"
        lines = [f"故障环节:{label}", f"故障时间:{start} 至 {end}(共 {took})"]
    else:
        title = (f"【告警】{name}通道异常:{label}" if kind == "alert"
                 else f"【提醒】{name}通道仍异常(第 {incident.reminders + 1} 次提醒):{label}")
        others = [LEG_LABELS[x] for x in incident.legs[1:]]
        lines = [f"故障环节:{label}" + (f";同时:{'、'.join(others)}" if others else ""),
                 f"详情:{incident.detail}", f"开始时间:{start}(已持续 {took})", LEG_HINTS[leg]]
    return AlertMessage(kind, platform, leg, title, "\n".join(lines), incident.since, now - incident.since)


# ---- probes -------------------------------------------------------------------------------
def probe_outbound(rt: JobContext, platform: str, now: datetime) -> dict[str, str]:
    """Token, then a test message to the ops chat (skipped when none is configured)."""
    ops = rt.channel_ops
    try:
        ops.check_token(platform)
    except ChannelError as err:
        return {"token": str(err)[:200]}
    target = rt.cfg.alerts.ops_chats.get(platform)
    if not target:
        return {}
    text = f"【心跳】crm-bot 通道检测 {local(now, rt.cfg.app.timezone):%m-%d %H:%M}"
    try:
        ops.send_text(platform, target, text, uuid=f"hb-{platform}-{int(now.timestamp())}")
    except ChannelBusy:
        return {}                        # authenticated and reachable, only busy
    except ChannelTokenError as err:
        return {"token": str(err)[:200]}
    except ChannelError as err:
        return {"send": str(err)[:200]}
    except ValueError as err:            # e.g. an ops target no route can reach
        return {"send": f"配置错误:{str(err)[:150]}"}
    return {}


def probe_inbound(rt: JobContext, platform: str, now: datetime) -> dict[str, str]:
    a, ts, out = rt.cfg.alerts, now.timestamp(), {}
    beat = _epoch(rt.kv.get(WORKER_BEAT_KEY.format(queue=INBOUND_QUEUE)))
    if beat is None or ts - beat > a.worker_silence_minutes * 60:
        out["worker"] = ("从未收到 worker 心跳" if beat is None
                         else f"worker 心跳已中断 {human_duration(ts - beat)}")
    stats = rt.kv.queue(INBOUND_QUEUE).stats()
    if stats.oldest_ready_age is not None and stats.oldest_ready_age > a.backlog_minutes * 60:
        out["backlog"] = f"{stats.ready} 条消息等待处理,最早一条已等待 {human_duration(stats.oldest_ready_age)}"
    silent = _silence_seconds(rt, platform, now)
    if silent > a.inbound_silence_minutes * 60:
        hours = "工作时间内" if a.inbound_silence_clock == "working" else ""
        out["callback"] = f"{hours}已 {human_duration(silent)} 没有收到平台回调"
    return out


def _silence_seconds(rt: JobContext, platform: str, now: datetime) -> float:
    """Seconds (on the configured clock) since the last callback, or since the heartbeat
    began watching a channel that never received one."""
    ts = now.timestamp()
    since = _epoch(rt.kv.get(LAST_CALLBACK_KEY.format(platform=platform)))
    if since is None:
        watch_key = WATCH_KEY.format(platform=platform)
        since = _epoch(rt.kv.get(watch_key))
        if since is None:
            since = ts
            rt.kv.set(watch_key, f"{ts:.3f}", ttl=STATE_TTL)
    start = datetime.fromtimestamp(min(since, ts), timezone.utc)
    return clock_for(rt.cfg, rt.cfg.alerts.inbound_silence_clock).hours_between(start, now) * 3600


def _epoch(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def check(rt: JobContext, platform: str, now: datetime) -> Probe:
    found = {**probe_outbound(rt, platform, now), **probe_inbound(rt, platform, now)}
    return Probe(platform, {leg: found[leg] for leg in LEGS if leg in found})


# ---- the job ------------------------------------------------------------------------------
def heartbeat_platform(rt: JobContext, platform: str, now: datetime) -> str:
    """Check one channel and move its incident on; returns "ok" or the failing leg."""
    probe = check(rt, platform, now)
    ts, key = now.timestamp(), INCIDENT_KEY.format(platform=platform)
    rt.kv.set(LAST_KEY.format(platform=platform),
              json.dumps({"at": ts, "ok": probe.ok, "failures": probe.failures}, ensure_ascii=False),
              ttl=STATE_TTL)
    old = Incident.from_json(rt.kv.get(key))
    new, send = decide(old, probe, ts, rt.cfg.alerts)
    incident = new or old
    if send is not None and incident is not None:
        if _send(rt, send, platform, incident, ts):
            _mark_sent(new, send, ts)
        elif send == "recovery":
            new = old        # not sent: the next healthy tick sends it (unsent alerts retry too)
    if new is None:
        rt.kv.delete(key)
    else:
        rt.kv.set(key, json.dumps(asdict(new)), ttl=STATE_TTL)
    return "ok" if probe.ok else str(probe.leg)


def _mark_sent(incident: Incident | None, kind: str, now: float) -> None:
    if incident is None:
        return
    if kind == "alert":
        incident.alerted_at = now
    elif kind == "reminder":
        incident.reminded_at, incident.reminders = now, incident.reminders + 1


def _send(rt: JobContext, kind: str, platform: str, incident: Incident, now: float) -> bool:
    msg = compose(kind, platform, incident, now, rt.cfg.app.timezone, rt.channel_ops.label(platform))
    route = rt.cfg.alerts.routes.get(platform)
    if route is None:
        log.error("no alert route for %s (alerts.routes): %s", platform, msg.title)
        return True                      # nowhere else to send it; the log is the alert
    try:
        deliver_alert(rt, route, msg)
    except AlertFailed as err:
        log.error("%s about %s not delivered (%s); retrying next tick", kind, platform, err)
        return False
    return True


def run_heartbeat(rt: JobContext, now: datetime) -> dict[str, Any]:
    """The scheduled job: every enabled platform, each under its own short KV lock so a
    manual run never races the scheduled one. Returns {"channels": platform -> "ok" or the
    failing leg} and, while an incident waits out `fail_for_minutes`, "recheck_in_seconds":
    the runner checks again then instead of a whole interval later."""
    channels: dict[str, str] = {}
    for platform in rt.channel_ops.enabled():
        lock = rt.kv.lock(f"heartbeat:lock:{platform}", ttl=120)
        if not lock.acquire(blocking=False):
            channels[platform] = "busy"
            continue
        try:
            channels[platform] = heartbeat_platform(rt, platform, now)
        except Exception:  # noqa: BLE001 - one channel's bug must not hide the others
            log.exception("heartbeat of %s failed", platform)
            channels[platform] = "error"
        finally:
            lock.release()
    out: dict[str, Any] = {"channels": channels}
    recheck = _recheck_in(rt, now)
    if recheck is not None:
        out["recheck_in_seconds"] = recheck
    return out


def _recheck_in(rt: JobContext, now: datetime) -> float | None:
    """Seconds until the earliest open, not yet alerted incident has failed for fail_for."""
    due = []
    for platform in rt.channel_ops.enabled():
        inc = Incident.from_json(rt.kv.get(INCIDENT_KEY.format(platform=platform)))
        if inc is not None and inc.alerted_at is None:
            due.append(inc.since + rt.cfg.alerts.fail_for_minutes * 60 - now.timestamp())
    return round(max(1.0, min(due)), 3) if due else None


def channel_states(rt: JobContext) -> dict[str, dict[str, Any]]:
    """Last heartbeat result and open incident per enabled platform (for the health API)."""
    out = {}
    for platform in rt.channel_ops.enabled():
        raw = rt.kv.get(LAST_KEY.format(platform=platform))
        incident = Incident.from_json(rt.kv.get(INCIDENT_KEY.format(platform=platform)))
        out[platform] = {"last_check": json.loads(raw) if raw else None,
                         "incident": asdict(incident) if incident else None}
    return out
