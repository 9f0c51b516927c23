"""The floor for `bench/webhook_ack.py`: a bare Flask app whose one route verifies, decrypts
and parses a WeCom callback with the same `WeComInbound.handle` crm-bot uses, then answers 200
empty. No dedupe, no queue, no KV: served by waitress with the same settings as `crm-bot serve`.

    .venv/bin/python bench/floor_app.py --config PATH [--host 127.0.0.1] [--port 8081]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # run as a script from anywhere

from flask import Flask, Response, request  # noqa: E402

from bot.platforms.base import InboundRejected, InboundRequest  # noqa: E402
from bot.platforms.wecom.inbound import TEXT_PLAIN, WeComInbound  # noqa: E402

# The same waitress settings (and waitress log filter) as bot/cli/run.py `serve`, so only the
# app differs.
WAITRESS = {"threads": 8, "connection_limit": 512, "channel_timeout": 30}


def create_floor_app(adapter: WeComInbound) -> Flask:
    """Flask app with `POST /callback/wecom`: translate → handle → empty 200 (or the 4xx)."""
    app = Flask("webhook_ack_floor")

    @app.post("/callback/wecom")
    def wecom() -> Response:
        # The same translation bot/web/callbacks.py does, so the floor pays for it too.
        req = InboundRequest(method=request.method, path=request.path, args=request.args.to_dict(),
                             headers=dict(request.headers), body=request.get_data(cache=False))
        try:
            adapter.handle(req, time.time())
        except InboundRejected as err:
            return Response(err.reason, status=err.status, content_type=TEXT_PLAIN)
        return Response("", status=200, content_type=TEXT_PLAIN)

    return app


def adapter_from_config(config_path: str | None) -> WeComInbound:
    from crm_core.config import load_config
    wecom = load_config(config_path).platforms.wecom
    return WeComInbound(wecom.token.get_secret_value(), wecom.encoding_aes_key.get_secret_value(),
                        wecom.corp_id, wecom.replay_window_seconds)


def main(argv: list[str] | None = None) -> None:
    from waitress import create_server

    from bot.logfilters import limit_waitress_queue_warnings
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="crm-bot config (WeCom token, AES key, corp id)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    limit_waitress_queue_warnings()   # as `crm-bot serve` does: the server's logging is not the app
    server = create_server(create_floor_app(adapter_from_config(args.config)),
                           host=args.host, port=args.port, **WAITRESS)
    print(f"floor listening on http://{server.effective_host}:{server.effective_port}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
