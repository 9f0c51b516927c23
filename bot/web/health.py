"""GET /healthz: database, Redis, each enabled platform, voice recognition.

200 when the database and Redis answer; 503 naming the failing ones otherwise. Every
component is probed on its own, so one that is down never turns the probe into a 500."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify

from bot.runtime import Runtime
from bot.streams.watchdog import read_status
from bot.web.context import current_runtime
from crm_core.kv.keys import LAST_CALLBACK_KEY
from crm_core.voice.asr import asr_status

health = Blueprint("health", __name__)


def component_status(runtime: Runtime) -> dict[str, Any]:
    comps: dict[str, Any] = {}
    try:
        runtime.db.ping()
        comps["database"] = {"ok": True, "dialect": runtime.db.dialect}
    except Exception as err:  # noqa: BLE001 - report, don't crash the probe
        comps["database"] = {"ok": False, "error": type(err).__name__}
    try:
        comps["redis"] = {"ok": bool(runtime.kv.ping()), "backend": runtime.kv.backend}
    except Exception as err:  # noqa: BLE001
        comps["redis"] = {"ok": False, "backend": runtime.kv.backend, "error": type(err).__name__}
    comps["platforms"] = {p: _guarded(platform_status, runtime, p) for p in runtime.channels}
    try:
        comps["voice"] = voice_status(runtime)
    except Exception as err:  # noqa: BLE001
        comps["voice"] = {"ok": False, "error": type(err).__name__}
    return comps


def _guarded(status: Callable[[Runtime, str], dict[str, Any]], runtime: Runtime,
             platform: str) -> dict[str, Any]:
    """A platform's status reads the KV: with Redis down it reports the error, not a 500."""
    try:
        return status(runtime, platform)
    except Exception as err:  # noqa: BLE001 - report, don't crash the probe
        return {"ok": False, "error": type(err).__name__}


# The components without which no message is taken or answered: 503 when one of them fails.
REQUIRED = ("database", "redis")


def failing_components(comps: dict[str, Any]) -> list[str]:
    return [name for name in REQUIRED if not comps[name]["ok"]]


def platform_status(runtime: Runtime, platform: str) -> dict[str, Any]:
    """What this process knows without calling the platform: inbound mode, how long since
    the last callback/frame, and for stream modes whether the connection is up."""
    mode = runtime.platforms.get(platform).inbound_mode(runtime.cfg)
    last = runtime.kv.get(LAST_CALLBACK_KEY.format(platform=platform))
    now = runtime.clock().timestamp()
    status: dict[str, Any] = {"ok": True, "mode": mode,
                              "last_inbound_seconds_ago": round(now - float(last), 1) if last else None}
    if mode != "http":
        stream = read_status(runtime.kv, platform) or {"connected": False, "last_error": "not started"}
        status.update(ok=bool(stream.get("connected")), connected=bool(stream.get("connected")),
                      reconnects=stream.get("reconnects", 0), last_error=stream.get("last_error"))
    return status


def voice_status(runtime: Runtime) -> dict[str, object]:
    v = runtime.cfg.voice
    return asr_status(backend=v.backend, model_path=v.model_path)


@health.get("/healthz")
def healthz() -> tuple[Response, int]:
    comps = component_status(current_runtime())
    failing = failing_components(comps)
    if not failing:
        return jsonify({"status": "ok", "components": comps}), 200
    return jsonify({"status": "degraded", "failing": failing, "components": comps}), 503
