"""Framework-free request/response types shared by the three inbound adapters.

Owns `InboundRequest`, `InboundResult`, `InboundRejected`, the `Adapter` protocol and the
small safety helpers every adapter uses (body size, replay window, JSON/XML parsing, and the
depth and size limits of JSON: whole bodies and JSON carried inside a field).
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
# Nesting: real callbacks nest a body ≤ 8 deep and the JSON inside a field ≤ 5. Deeper JSON
# is an attack on every recursive step after the ack (encoding, logging, the worker's decode):
# refused here with a 400, never enqueued to fail on each retry.
MAX_JSON_DEPTH = 32               # a whole body (or an XML document, element levels)
MAX_FIELD_JSON_DEPTH = 16         # JSON inside a field: DingTalk content, Feishu value/content
MAX_FIELD_JSON_BYTES = 256 * 1024  # Feishu's largest message content (a 150 KB post) fits


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
    """What the adapter produced: events to enqueue plus the immediate HTTP answer.

    `replay_key`: for a request whose signature does not cover its body (DingTalk robot
    callbacks), a key the gateway claims in the KV for `replay_ttl` seconds before anything
    is enqueued; a second request with the same key is a replay and is refused (401).
    """
    events: list[InboundEvent]
    response_body: bytes | str
    content_type: str
    status: int = 200
    replay_key: str | None = None
    replay_ttl: float = 0.0


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
REPLAYED_SIGNATURE = ("replayed request: this timestamp and signature were already used / "
                      "重放请求：该时间戳和签名已被使用过")
BAD_TIMESTAMP = "malformed timestamp / 时间戳格式错误"
MALFORMED_XML = "malformed XML / XML 格式错误"
FORBIDDEN_XML = "XML with DTD or entities is not accepted / 不接受含 DTD 或实体的 XML"
MALFORMED_JSON = "malformed JSON / JSON 格式错误"
JSON_TOO_DEEP = "JSON nested too deep / JSON 嵌套层数过多"
FIELD_TOO_LARGE = "field too large / 字段内容过大"
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


def parse_json_object(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Parse a JSON document that must be an object nested at most `max_depth` deep;
    anything else is a 400."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise InboundRejected(400, JSON_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        raise InboundRejected(400, MALFORMED_JSON) from None
    if not isinstance(value, dict):
        raise InboundRejected(400, MALFORMED_JSON)
    check_json_depth(value, max_depth)
    return value


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when decoded JSON (dicts and lists) nests deeper than `limit` (a scalar is 0, `{}`
    is 1). Iterative, stops at the first too-deep container: safe on any input."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def check_json_depth(value: Any, limit: int = MAX_JSON_DEPTH, what: str = "") -> None:
    """400 when decoded JSON nests deeper than `limit`; `what` names the field in the reason."""
    if json_depth_exceeds(value, limit):
        raise InboundRejected(400, f"{JSON_TOO_DEEP}: {what}" if what else JSON_TOO_DEEP)


def decode_json_field(raw: Any, what: str, *, max_depth: int = MAX_FIELD_JSON_DEPTH,
                      max_bytes: int = MAX_FIELD_JSON_BYTES) -> Any:
    """JSON carried inside a field, as platforms send it: a string holding JSON (DingTalk
    `content`/`cardPrivateData`, Feishu action `value`, Feishu message `content`) or the
    decoded value itself. Every adapter decodes such fields here, and nowhere else.

    Returns the decoded value (`raw` itself when it is not a string), or None when the string
    is not JSON (callers treat the field as absent, as before). A 400 naming the field
    (`what`) when it is over `max_bytes` or nests deeper than `max_depth`.
    """
    if isinstance(raw, (str, bytes)):
        size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
        if size > max_bytes:
            raise InboundRejected(400, f"{FIELD_TOO_LARGE}: {what}")
        try:
            raw = json.loads(raw)
        except RecursionError:
            raise InboundRejected(400, f"{JSON_TOO_DEEP}: {what}") from None
        except (ValueError, UnicodeDecodeError):
            return None
    check_json_depth(raw, max_depth, what)
    return raw


def check_field_size(value: str, max_bytes: int, what: str) -> None:
    """400 when a field that carries encoded data (WeCom's button `EventKey`) is over its
    platform limit: it is never decoded then."""
    if len(value.encode("utf-8")) > max_bytes:
        raise InboundRejected(400, f"{FIELD_TOO_LARGE}: {what}")


def json_field_object(raw: Any, what: str) -> dict[str, Any]:
    """`decode_json_field` for a field that should hold an object ({} when absent or not one)."""
    value = decode_json_field(raw, what)
    return value if isinstance(value, dict) else {}


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
    if _xml_depth_exceeds(root, MAX_JSON_DEPTH):   # absurd nesting: a 400, never a crash
        raise InboundRejected(400, f"{MALFORMED_XML}: {JSON_TOO_DEEP}")
    result = _element_to_value(root)
    return result if isinstance(result, dict) else {}


def _xml_depth_exceeds(root: Element, limit: int) -> bool:
    stack = [(root, 1)]
    while stack:
        elem, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in elem)
    return False


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
