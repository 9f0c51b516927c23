"""The platforms' official SDK clients as peers of the sandbox, each run in a process of its own
(both keep process-wide state: the dingtalk-stream SDK its OpenAPI endpoint constant, lark-oapi
its module-level event loop, and neither can be stopped cleanly). Every event a handler receives
is printed as one JSON line; the test reads them.

    python -m tests.helpers.sdk_peers dingtalk OPEN_URL CLIENT_ID SECRET robot,card
    python -m tests.helpers.sdk_peers lark DOMAIN APP_ID APP_SECRET
"""
from __future__ import annotations

import json
import sys
from typing import Any


def emit(**fields: Any) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def run_dingtalk(open_url: str, client_id: str, secret: str, topics: str) -> None:
    import dingtalk_stream
    from dingtalk_stream import AckMessage

    class Robot(dingtalk_stream.ChatbotHandler):
        async def process(self, callback: dingtalk_stream.CallbackMessage) -> tuple[int, str]:
            msg = dingtalk_stream.ChatbotMessage.from_dict(callback.data)
            emit(kind="robot", message_id=callback.headers.message_id, msg_id=msg.message_id,
                 staff=msg.sender_staff_id, conversation=msg.conversation_id,
                 conversation_type=msg.conversation_type, text=(msg.text.content if msg.text else None),
                 session_webhook=msg.session_webhook, robot_code=msg.robot_code)
            return AckMessage.STATUS_OK, "OK"

    class Card(dingtalk_stream.CallbackHandler):
        async def process(self, callback: dingtalk_stream.CallbackMessage) -> tuple[int, dict[str, Any]]:
            msg = dingtalk_stream.CardCallbackMessage.from_dict(callback.data)
            private = msg.content.get("cardPrivateData", {})
            emit(kind="card", message_id=callback.headers.message_id, out_track_id=msg.card_instance_id,
                 user=msg.user_id, corp=msg.corp_id, action_ids=private.get("actionIds"),
                 params=private.get("params"))
            return AckMessage.STATUS_OK, {"cardUpdateOptions": {"updateCardDataByKey": True},
                                          "cardData": {"cardParamMap": {"resolved": "true"}}}

    # the SDK reads its endpoint from a class constant built from DINGTALK_OPENAPI_ENDPOINT
    dingtalk_stream.DingTalkStreamClient.OPEN_CONNECTION_API = open_url
    client = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential(client_id, secret))
    wanted = set(topics.split(","))
    if "robot" in wanted:
        client.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, Robot())
    if "card" in wanted:
        client.register_callback_handler(dingtalk_stream.CallbackHandler.TOPIC_CARD_CALLBACK, Card())
    emit(kind="started")
    client.start_forever()


def run_lark(domain: str, app_id: str, app_secret: str) -> None:
    import lark_oapi as lark
    from lark_oapi.api.im.v1 import P2ImMessageReceiveV1
    from lark_oapi.event.callback.model.p2_card_action_trigger import (
        P2CardActionTrigger, P2CardActionTriggerResponse,
    )

    def on_message(data: P2ImMessageReceiveV1) -> None:
        message = data.event.message
        emit(kind="message", event_id=data.header.event_id, message_id=message.message_id,
             chat_type=message.chat_type, content=json.loads(message.content),
             sender=data.event.sender.sender_id.open_id)

    def on_card(data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        emit(kind="card", event_id=data.header.event_id, value=data.event.action.value,
             operator=data.event.operator.open_id, message_id=data.event.context.open_message_id)
        return P2CardActionTriggerResponse({"toast": {"type": "info", "content": "收到"}})

    handler = (lark.EventDispatcherHandler.builder("", "")
               .register_p2_im_message_receive_v1(on_message)
               .register_p2_card_action_trigger(on_card)
               .build())
    client = lark.ws.Client(app_id, app_secret, event_handler=handler, domain=domain,
                            log_level=lark.LogLevel.WARNING)
    emit(kind="started")
    client.start()


if __name__ == "__main__":
    which, *args = sys.argv[1:]
    {"dingtalk": run_dingtalk, "lark": run_lark}[which](*args)
