"""Card renderers (pure functions, no I/O; each platform calls its own) and the helpers
adapters use to decode a button tap.

Where a tap's `{"card_id", "action", **value}` travels on each platform
-----------------------------------------------------------------------
* **WeCom** (template_card_event): the card's `task_id` is our `card_id` plus a suffix per send
  (task ids must be unique per app) and comes back as `TaskId`. A button key is one string (≤ 1024 bytes, unique within the card) and comes back as
  `EventKey`, so it holds the compact token `action~card_id~base64url(json(values))`
  (ASCII only; validated ≤ 1024 bytes when the `Card` is built).
  Decode with `decode_wecom_event_key(EventKey, TaskId)` or `decode_wecom_key(EventKey)`.
* **DingTalk** (an instance of crm-bot's card-platform template, created with a callback
  type): each of the template's six button slots carries the token in `btnN_token` and passes
  it back as the callback parameter `token`, in `content` → `cardPrivateData.params.token` (a
  JSON string inside the JSON body); `outTrackId` is the instance id (card id + send suffix).
  A button id that is a token, or plain `params` (`{"action", "card_id", ...}`), decode too.
  Decode with `decode_dingtalk_callback_params(body)`.
* **Feishu** (card.action.trigger / legacy trigger_v1): the button's callback `value` object
  is exactly `{"card_id", "action", **value}` — `behaviors[{"type": "callback"}].value` in
  schema 2.0, `value` in 1.0 — and arrives as `event.action.value` (some SDKs deliver it as a
  JSON string). Decode with `decode_feishu_action_value(value)`.

Every decoder returns `DecodedAction(card_id, action, values)`; the adapter builds
`CardAction(key=action, values=values, card_ref=card_id)` from it, and raises nothing but
`CardDecodeError` for payloads we did not produce.
"""
from __future__ import annotations

from cards.model import Card, CardDecodeError, DecodedAction
from cards.render.dingtalk import (
    decode_dingtalk_callback_params, dingtalk_card_params, render_dingtalk, render_dingtalk_update,
)
from cards.render.feishu import decode_feishu_action_value, render_feishu
from cards.render.text import render_text
from cards.render.wecom import (
    decode_wecom_event_key, decode_wecom_key, render_wecom, render_wecom_button_replace,
    render_wecom_update,
)

__all__ = [
    "CardDecodeError", "DecodedAction",
    "render_wecom", "render_wecom_update", "render_wecom_button_replace",
    "render_dingtalk", "render_dingtalk_update", "dingtalk_card_params",
    "render_feishu", "render_text",
    "decode_wecom_key", "decode_wecom_event_key", "decode_dingtalk_callback_params",
    "decode_feishu_action_value",
]
