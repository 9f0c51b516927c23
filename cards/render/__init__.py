"""Card renderers (pure functions, no I/O; each platform calls its own) and the helpers
adapters use to decode a button tap.

Where a tap's `{"card_id", "action", **value}` travels on each platform
-----------------------------------------------------------------------
* **WeCom** (template_card_event): the card's `task_id` is our `card_id` and comes back as
  `TaskId`. A button key is one string (≤ 1024 bytes, unique within the card) and comes back as
  `EventKey`, so it holds the compact token `action~card_id~base64url(json(values))`
  (ASCII only; validated ≤ 1024 bytes when the `Card` is built).
  Decode with `decode_wecom_event_key(EventKey, TaskId)` or `decode_wecom_key(EventKey)`.
* **DingTalk** (robot StandardCard, `actionType: request` buttons): the callback only names the
  tapped button, in `content`/`value` → `cardPrivateData.actionIds[0]` (a JSON string inside
  the JSON body), so the button `id` is the same token; `outTrackId` is the card's
  `cardBizId` (= `card_id`). Template cards built on the card platform may instead pass
  `params` (`{"action", "card_id", ...}`). Decode with `decode_dingtalk_callback_params(body)`.
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
    decode_dingtalk_callback_params, dingtalk_card_data, render_dingtalk, render_dingtalk_update,
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
    "render_dingtalk", "render_dingtalk_update", "dingtalk_card_data",
    "render_feishu", "render_text",
    "decode_wecom_key", "decode_wecom_event_key", "decode_dingtalk_callback_params",
    "decode_feishu_action_value",
]
