"""GET /healthz: database, Redis, each enabled platform, voice recognition."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

health = Blueprint("health", __name__)


def component_status(runtime) -> dict:  # noqa: ANN001
    comps: dict = {}
    try:
        runtime.db.ping()
        comps["database"] = {"ok": True, "dialect": runtime.db.dialect}
    except Exception as err:  # noqa: BLE001 - report, don't crash the probe
        comps["database"] = {"ok": False, "error": type(err).__name__}
    try:
        comps["redis"] = {"ok": bool(runtime.kv.ping()), "backend": runtime.kv.backend}
    except Exception as err:  # noqa: BLE001
        comps["redis"] = {"ok": False, "backend": runtime.kv.backend, "error": type(err).__name__}
    comps["platforms"] = {p: platform_status(runtime, p) for p in runtime.cfg.platforms.enabled()}
    comps["voice"] = voice_status(runtime)
    return comps


def platform_status(runtime, platform: str) -> dict:  # noqa: ANN001
    """What this process knows without calling the platform: inbound mode, how long since
    the last callback/frame, and for stream modes whether the connection is up."""
    from bot.gateway import LAST_CALLBACK_KEY
    from bot.streams import stream_platforms
    from bot.streams.watchdog import read_status
    cfg = getattr(runtime.cfg.platforms, platform)
    last = runtime.kv.get(LAST_CALLBACK_KEY.format(platform=platform))
    now = runtime.clock().timestamp()
    status = {"ok": True, "mode": getattr(cfg, "mode", "http"),
              "last_inbound_seconds_ago": round(now - float(last), 1) if last else None}
    if platform in stream_platforms(runtime.cfg):
        stream = read_status(runtime.kv, platform) or {"connected": False, "last_error": "not started"}
        status.update(ok=bool(stream.get("connected")), connected=bool(stream.get("connected")),
                      reconnects=stream.get("reconnects", 0), last_error=stream.get("last_error"))
    return status


def voice_status(runtime) -> dict:  # noqa: ANN001
    try:
        from crm_core.voice.asr import asr_status
    except ImportError:
        return {"enabled": False, "reason": "voice module not installed"}
    v = runtime.cfg.voice
    return asr_status(backend=v.backend, model_path=v.model_path)


@health.get("/healthz")
def healthz():  # noqa: ANN201
    runtime = current_app.extensions["crm_runtime"]
    comps = component_status(runtime)
    ok = comps["database"]["ok"] and comps["redis"]["ok"]
    return jsonify({"status": "ok" if ok else "degraded", "components": comps}), 200 if ok else 503
