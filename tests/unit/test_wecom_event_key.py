"""A WeCom card event has no MsgId: its id is sender + time + event + task + button key. A button
with several Chinese values makes that longer than the inbound log's 200 characters (PostgreSQL
refused the row, found by tests/e2e/test_visit_notes.py): a long id is folded into a digest."""
from __future__ import annotations

from bot.platforms.wecom.inbound import EVENT_ID_CHARS, _event_key

BASE = {"FromUserName": "zhangwei", "CreateTime": "1796232332", "Event": "template_card_event",
        "TaskId": "stage-entry-7-ca13502ae5de@crm-25"}


def test_short_ids_are_unchanged() -> None:
    assert _event_key({**BASE, "EventKey": "todo.done~c~x"}) == "|".join([*BASE.values(), "todo.done~c~x"])


def test_long_ids_fit_and_stay_distinct_and_stable() -> None:
    a = _event_key({**BASE, "EventKey": "entry.pick~stage-entry-7~" + "A" * 200})
    b = _event_key({**BASE, "EventKey": "entry.pick~stage-entry-7~" + "A" * 199 + "B"})
    assert len(a) <= EVENT_ID_CHARS and len(b) <= EVENT_ID_CHARS and a != b
    assert a == _event_key({**BASE, "EventKey": "entry.pick~stage-entry-7~" + "A" * 200})
