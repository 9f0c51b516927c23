"""Platform callback endpoints: `/callback/<path>` for every HTTP endpoint the enabled
platforms declare. Translate the Flask request, hand it to the gateway, and answer with what
the adapter says. Rejections are 4xx JSON with a clear reason."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bot.gateway import Gateway, InboundRejected, InboundRequest, UnknownEndpoint
from bot.web.context import current_runtime

callbacks = Blueprint("callbacks", __name__)


def gateway() -> Gateway:
    return current_runtime().gateway


@callbacks.route("/callback/<path:path>", methods=["GET", "POST"])
def callback(path: str) -> Response | tuple[Response, int]:
    req = InboundRequest(method=request.method, path=request.path, args=request.args.to_dict(),
                         headers=dict(request.headers), body=request.get_data(cache=False))
    try:
        result = gateway().accept(path, req)
    except UnknownEndpoint:
        return jsonify({"error": "not_found", "message": f"platform '{path}' is not enabled"}), 404
    except InboundRejected as err:        # logged once, by bot/web/rejections.py
        return jsonify({"error": "rejected", "message": err.reason}), err.status
    return Response(result.response_body, status=result.status, content_type=result.content_type)
