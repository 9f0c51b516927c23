"""The Flask app factory: the only place crm-bot imports Flask. Every error is JSON."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from bot.runtime import Runtime

log = logging.getLogger("crm_bot.web")


def create_app(runtime: Runtime) -> Flask:
    app = Flask("crm_bot")
    app.config["MAX_CONTENT_LENGTH"] = runtime.cfg.app.max_body_bytes
    app.json.ensure_ascii = False
    app.extensions["crm_runtime"] = runtime
    from bot.web.api import api
    from bot.web.health import health
    from bot.web.metrics import metrics
    from bot.web.workflow_api import workflow_api
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    app.register_blueprint(api)
    app.register_blueprint(workflow_api)
    _register_callbacks(app)
    _register_errors(app)
    return app


def _register_callbacks(app: Flask) -> None:
    try:
        from bot.web.callbacks import callbacks
    except ImportError:   # platform adapters not installed in this build
        return
    app.register_blueprint(callbacks)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):  # noqa: ANN202
        reason = {413: "request body too large", 404: "not found", 405: "method not allowed"}
        body = {"error": err.name.lower().replace(" ", "_"),
                "message": reason.get(err.code or 0, err.description or err.name)}
        return jsonify(body), err.code

    @app.errorhandler(Exception)
    def crash(err: Exception):  # noqa: ANN202
        log.exception("unhandled error: %s", type(err).__name__)
        return jsonify({"error": "internal_error", "message": "internal error; it has been logged"}), 500
