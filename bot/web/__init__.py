"""The Flask app factory: the only place crm-bot imports Flask. Every error is JSON."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from bot.runtime import Runtime
from bot.web.api import api
from bot.web.audit_api import audit_api
from bot.web.clv_api import clv_api
from bot.web.callbacks import callbacks
from bot.web.context import attach_runtime
from bot.web.export_api import export_api
from bot.web.health import health
from bot.web.lead_api import lead_api
from bot.web.approval_api import approval_api
from bot.web.metrics import metrics
from bot.web.rejections import log_rejections
from bot.web.workflow_api import workflow_api

log = logging.getLogger("crm_bot.web")


class _JSONProvider(DefaultJSONProvider):
    ensure_ascii = False          # Chinese text stays readable in every JSON answer


def create_app(runtime: Runtime) -> Flask:
    # No static route: Flask's default `/static/<path>` would serve files from the working
    # directory (the root path of a non-package app) to anyone, without auth.
    app = Flask("crm_bot", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = runtime.cfg.app.max_body_bytes
    app.json = _JSONProvider(app)
    attach_runtime(app, runtime)
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    app.register_blueprint(api)
    app.register_blueprint(workflow_api)
    app.register_blueprint(lead_api)
    app.register_blueprint(approval_api)
    app.register_blueprint(audit_api)
    app.register_blueprint(clv_api)
    app.register_blueprint(export_api)
    app.register_blueprint(callbacks)
    _register_errors(app)
    log_rejections(app)
    return app


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[Response, int]:
        # Flask hands only HTTPExceptions that carry a code to error handlers.
        status = err.code or 500
        reason = {413: "request body too large", 404: "not found", 405: "method not allowed"}
        body = {"error": err.name.lower().replace(" ", "_"),
                "message": reason.get(status, err.description or err.name)}
        return jsonify(body), status

    @app.errorhandler(Exception)
    def crash(err: Exception) -> tuple[Response, int]:
        log.exception("unhandled error: %s", type(err).__name__)
        return jsonify({"error": "internal_error", "message": "internal error; it has been logged"}), 500
