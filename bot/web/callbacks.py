"""Platform callback endpoints: translate the Flask request, hand it to the gateway, and
answer with what the adapter says. Rejections are 4xx JSON with a clear reason."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from bot.gateway import Gateway, InboundRejected, InboundRequest, UnknownEndpoint

log = logging.getLogger("crm_bot.callbacks")
callbacks = Blueprint("callbacks", __name__)


def gateway() -> Gateway:
    rt = current_app.extensions["crm_runtime"]
    gw = rt.extras.get("gateway")
    if gw is None:
        gw = rt.extras["gateway"] = Gateway(rt.cfg, rt.kv, clock=lambda: rt.clock().timestamp())
    return gw


def _handle(endpoint: str) -> Response | tuple:
    req = InboundRequest(method=request.method, path=request.path, args=request.args.to_dict(),
                         headers=dict(request.headers), body=request.get_data(cache=False))
    try:
        result = gateway().accept(endpoint, req)
    except UnknownEndpoint:
        return jsonify({"error": "not_found", "message": f"platform '{endpoint}' is not enabled"}), 404
    except InboundRejected as err:
        log.warning("%s callback rejected: %s", endpoint, err.reason)
        return jsonify({"error": "rejected", "message": err.reason}), err.status
    return Response(result.response_body, status=result.status, content_type=result.content_type)


@callbacks.route("/callback/wecom", methods=["GET", "POST"])
def wecom():  # noqa: ANN201
    return _handle("wecom")


@callbacks.post("/callback/dingtalk")
def dingtalk():  # noqa: ANN201
    return _handle("dingtalk")


@callbacks.post("/callback/feishu")
def feishu():  # noqa: ANN201
    return _handle("feishu")


@callbacks.post("/callback/feishu/card")
def feishu_card():  # noqa: ANN201
    return _handle("feishu_card")
