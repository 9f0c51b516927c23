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
    probe = runtime.extras.get("platform_status")
    return probe(platform) if probe else {"ok": True, "enabled": True}


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
