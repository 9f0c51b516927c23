"""Framework-free request/response types shared by the three inbound adapters.

Owns `InboundRequest`, `InboundResult`, `InboundRejected`, the `Adapter` protocol and the
small safety helpers every adapter uses (body size, replay window, JSON/XML parsing).
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Protocol
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from bot.events import InboundEvent

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: no legitimate callback comes close


class Headers(dict[str, str]):
    """A dict whose keys are matched case-insensitively (HTTP header semantics)."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        super().__init__((str(k).lower(), str(v)) for k, v in pairs)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class InboundRequest:
    """One HTTP request as the web layer saw it; `args` are already URL-decoded once."""
    method: str
    path: str
    args: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


@dataclass
class InboundResult:
    """What the adapter produced: events to enqueue plus the immediate HTTP answer."""
    events: list[InboundEvent]
    response_body: bytes | str
    content_type: str
    status: int = 200


class InboundRejected(Exception):
    """The request must not be processed; `status` is the 4xx to answer with.

    `reason` is safe to log and to return: it never contains secrets.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class Adapter(Protocol):
    """Every platform adapter: verify, decrypt and parse one request."""

    def handle(self, req: InboundRequest, now: float) -> InboundResult: ...


# Reasons are English + Chinese so both operators and the platform console can read them.
BAD_SIGNATURE = "bad signature / 签名校验失败"
MISSING_SIGNATURE = "missing signature / 缺少签名"
BAD_TOKEN = "wrong verification token / 校验 token 不匹配"
STALE_TIMESTAMP = "stale timestamp / 请求时间戳超出允许窗口"
BAD_TIMESTAMP = "malformed timestamp / 时间戳格式错误"
MALFORMED_XML = "malformed XML / XML 格式错误"
FORBIDDEN_XML = "XML with DTD or entities is not accepted / 不接受含 DTD 或实体的 XML"
MALFORMED_JSON = "malformed JSON / JSON 格式错误"
BODY_TOO_LARGE = "body too large / 请求体过大"
DECRYPT_FAILED = "cannot decrypt / 解密失败"
WRONG_RECEIVER = "message is addressed to another receiver id / 接收方 ID 不匹配"
MISSING_PARAM = "missing required parameter / 缺少必要参数"
METHOD_NOT_ALLOWED = "method not allowed / 不支持的请求方法"


def ciphertext_bytes(blob: str) -> bytes:
    """Base64 AES-CBC ciphertext (IV block + at least one block, whole blocks) or a 400."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise InboundRejected(400, DECRYPT_FAILED) from None
    if len(raw) < 32 or len(raw) % 16:
        raise InboundRejected(400, DECRYPT_FAILED)
    return raw


def check_body_size(body: bytes) -> None:
    """Checked before anything else touches the body."""
    if len(body) > MAX_BODY_BYTES:
        raise InboundRejected(413, BODY_TOO_LARGE)


def secure_equals(expected: str, given: str | None) -> bool:
    """Constant-time string comparison; None never matches."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def parse_epoch(value: str | None, *, millis: bool = False) -> float:
    """A platform timestamp string as epoch seconds; 400 when absent or not numeric."""
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 16:
        raise InboundRejected(400, BAD_TIMESTAMP)
    return int(text) / 1000.0 if millis else float(int(text))


def check_fresh(ts_seconds: float, now: float, window_seconds: float) -> None:
    """Reject replays: |now - ts| > window. A window of 0 turns the check off."""
    if window_seconds > 0 and abs(now - ts_seconds) > window_seconds:
        raise InboundRejected(401, STALE_TIMESTAMP)


def parse_json_object(data: bytes | str) -> dict[str, Any]:
    """Parse a JSON document that must be an object; anything else is a 400."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InboundRejected(400, MALFORMED_JSON) from None
    if not isinstance(value, dict):
        raise InboundRejected(400, MALFORMED_JSON)
    return value


def parse_xml(data: bytes | str) -> dict[str, Any]:
    """Parse XML with DTDs, entities and external references forbidden.

    Returns the root's children as a dict: leaves become text, nested elements dicts, and
    repeated tags lists (WeCom's vote cards repeat `SelectedItem`).
    """
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except defusedxml.DefusedXmlException:
        raise InboundRejected(400, FORBIDDEN_XML) from None
    except (ParseError, ValueError, UnicodeError):
        raise InboundRejected(400, MALFORMED_XML) from None
    try:
        result = _element_to_value(root)
    except RecursionError:  # absurd nesting: refuse rather than crash with a 500
        raise InboundRejected(400, MALFORMED_XML) from None
    return result if isinstance(result, dict) else {}


def _element_to_value(elem: Element) -> Any:
    children = list(elem)
    if not children:
        return (elem.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        value = _element_to_value(child)
        if child.tag in out:
            existing = out[child.tag]
            out[child.tag] = existing + [value] if isinstance(existing, list) else [existing, value]
        else:
            out[child.tag] = value
    return out


def utc_from_epoch(seconds: float | None) -> datetime | None:
    """Platform epoch seconds → aware UTC datetime (None when absent/invalid)."""
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    """Lenient int conversion for optional numeric payload fields."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> float | None:
    """Lenient float conversion (Feishu v1 sends `ts` as "1502199207.7846")."""
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def as_str(value: Any) -> str:
    """Payload field as a string ('' for None) — platforms mix numbers and strings."""
    return "" if value is None else str(value)


def as_dict(value: Any) -> dict[str, Any]:
    """Payload field that should be a JSON object ({} when absent or of another type)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """Payload field that should be a JSON array ([] when absent or of another type)."""
    return value if isinstance(value, list) else []


def received_now(now: float) -> datetime:
    """`received_at` for events, from the injected clock."""
    return datetime.fromtimestamp(now, tz=timezone.utc)
