"""Plain-text rendering of a `Card`: what `crm-bot simulate` prints, and the fallback message when
a platform (or a group robot) cannot show an interactive card.
"""
from __future__ import annotations

from cards.model import Card, clip_bytes, strip_markdown
from cards.zh import clip_at_boundary


def render_text(card: Card, *, max_bytes: int | None = None) -> str:
    """Title, subtitle, "标签: 值" fields, text, buttons as "[确认] [取消]", footer, result.

    `max_bytes` clips the whole message (e.g. 2048 for a WeCom text message) on a character
    boundary; the result line is kept whole when there is room, since it is what changed.
    """
    head = _title_line(card)
    body = [strip_markdown(card.subtitle)] if card.subtitle else []
    body += [f"{f.label}: {f.value}" for f in card.fields]
    if card.text:
        body.append(strip_markdown(card.text).strip())
    if card.active_buttons:
        body.append(" ".join(f"[{b.text}]" for b in card.active_buttons))
    if card.footer:
        body.append(strip_markdown(card.footer))
    tail = f"结果: {card.result}" if card.is_resolved else ""
    text = "\n".join(p for p in [head, *body, tail] if p)
    if max_bytes is None or len(text.encode()) <= max_bytes:
        return text
    return _clip_keeping_tail(head, body, tail, max_bytes)


def _title_line(card: Card) -> str:
    label = card.level.label
    title = strip_markdown(card.title)
    return f"【{label}】{title}" if label else title


def _clip_keeping_tail(head: str, body: list[str], tail: str, max_bytes: int) -> str:
    suffix = f"\n{tail}" if tail else ""
    room = max_bytes - len(suffix.encode())
    if room <= len(head.encode()):      # not even the title fits beside the result
        return clip_bytes("\n".join(p for p in [head, *body, tail] if p), max_bytes)
    main = "\n".join(p for p in [head, *body] if p)
    return clip_at_boundary(main, room) + suffix
