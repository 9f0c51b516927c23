"""The neutral card model: what a handler wants to show, independent of any platform.

Owns the frozen `Card`/`Field`/`Button` types and their validation, the compact action token
that carries a button tap back through platforms whose callbacks only return one string
(WeCom `EventKey`, DingTalk `actionIds`), and the byte-safe text clipping the renderers share.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Callable, Mapping, NamedTuple, TypeVar

MAX_BUTTONS = 6            # WeCom button_interaction allows at most 6 buttons
MAX_FIELDS = 12            # beyond this a chat card stops being readable
MAX_CARD_ID_BYTES = 128    # WeCom task_id limit
MAX_TOKEN_BYTES = 1024     # WeCom button key / EventKey limit; also bounds DingTalk ids
RESERVED_VALUE_KEYS = frozenset({"card_id", "action"})

CARD_ID_RE = re.compile(r"^[0-9A-Za-z_\-@]+$")        # WeCom task_id charset
ACTION_RE = re.compile(r"^[a-z0-9_.:-]+$")
VALUE_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
BUTTON_STYLES = ("default", "primary", "danger")
CHART_KINDS = ("bar", "line", "funnel")
MAX_CHART_LABELS = 24      # beyond this the axis labels overlap on a phone screen
MAX_CHART_SERIES = 4
TOKEN_SEP = "~"            # in neither the action nor the card_id charset, nor base64url


class CardError(ValueError):
    """A card that no platform could show (bad id, too many buttons, ...)."""


class CardDecodeError(ValueError):
    """A platform callback whose button payload we did not produce or cannot read."""


class Level(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    DANGER = "danger"

    @property
    def label(self) -> str:
        """Short Chinese tag shown where a platform has no colour (empty for plain info)."""
        return _LEVEL_LABELS[self]


_LEVEL_LABELS = {Level.INFO: "", Level.SUCCESS: "完成", Level.WARNING: "注意", Level.DANGER: "紧急"}


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    short: bool = True      # may share a row with another short field (Feishu)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise CardError("字段标签不能为空")
        object.__setattr__(self, "value", "" if self.value is None else str(self.value))


@dataclass(frozen=True)
class Button:
    text: str
    action: str
    value: dict[str, str] = field(default_factory=dict)
    style: str = "default"
    confirm: str | None = None   # confirmation prompt; only Feishu can show one

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise CardError("按钮文字不能为空")
        if not isinstance(self.action, str) or not ACTION_RE.match(self.action):
            raise CardError(f"按钮动作 {self.action!r} 只能包含 a-z 0-9 _ . : -")
        if self.style not in BUTTON_STYLES:
            raise CardError(f"按钮样式 {self.style!r} 不在 {BUTTON_STYLES} 中")
        value = dict(self.value or {})   # copy: a frozen card must not change under us
        for key, val in value.items():
            if not isinstance(key, str) or not VALUE_KEY_RE.match(key):
                raise CardError(f"按钮参数名 {key!r} 不合法")
            if key in RESERVED_VALUE_KEYS:
                raise CardError(f"按钮参数名 {key!r} 为保留字段")
            if not isinstance(val, str):
                raise CardError(f"按钮参数 {key!r} 的值必须是字符串")
        object.__setattr__(self, "value", value)

    def callback_value(self, card_id: str) -> dict[str, str]:
        """The neutral payload every platform returns on a tap."""
        return {"card_id": card_id, "action": self.action, **self.value}

    def token(self, card_id: str) -> str:
        """This button's payload as one compact ASCII string (WeCom key, DingTalk id)."""
        return encode_action_token(card_id, self.action, self.value)


@dataclass(frozen=True)
class Series:
    """One named row of numbers of a chart, one value per label."""
    name: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        values = tuple(self.values or ())
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
                raise CardError(f"图表数据 {v!r} 不是有限的数字")
        object.__setattr__(self, "name", str(self.name or ""))
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Chart:
    """A picture of a card's figures, as a spec (never pixels): `cards.charts.render_png`
    draws it, each platform shows the uploaded image, and the card's own fields and text stay
    the text version. `kind`: bar (grouped bars), line, funnel (one series, largest first)."""
    kind: str
    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str = ""                   # shown after each value: "%", "条"

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels or ()))
        object.__setattr__(self, "series", tuple(
            s if isinstance(s, Series) else Series(**s) for s in self.series or ()))
        if self.kind not in CHART_KINDS:
            raise CardError(f"图表类型 {self.kind!r} 不在 {CHART_KINDS} 中")
        if not isinstance(self.title, str) or not self.title.strip():
            raise CardError("图表标题不能为空")
        if not 1 <= len(self.labels) <= MAX_CHART_LABELS:
            raise CardError(f"图表需要 1–{MAX_CHART_LABELS} 个分类，实际 {len(self.labels)} 个")
        if not 1 <= len(self.series) <= (1 if self.kind == "funnel" else MAX_CHART_SERIES):
            raise CardError(f"{self.kind} 图表的数据系列数量不对：{len(self.series)}")
        for s in self.series:
            if len(s.values) != len(self.labels):
                raise CardError(f"数据系列 {s.name!r} 有 {len(s.values)} 个值，分类有 {len(self.labels)} 个")


@dataclass(frozen=True)
class Card:
    card_id: str
    title: str
    level: Level = Level.INFO
    subtitle: str | None = None
    text: str | None = None          # short markdown-lite: **bold**, line breaks, [t](url)
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    footer: str | None = None
    result: str | None = None        # set once the card has been acted upon
    chart: Chart | None = None       # shown as an image where the platform can (reports.images)

    def __post_init__(self) -> None:
        if isinstance(self.chart, dict):
            object.__setattr__(self, "chart", chart_from_dict(self.chart))
        if self.chart is not None and not isinstance(self.chart, Chart):
            raise CardError("chart 只能是 Chart")
        try:
            object.__setattr__(self, "level", Level(self.level))
        except ValueError as exc:
            raise CardError(f"未知的卡片级别 {self.level!r}") from exc
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "buttons", tuple(self.buttons))
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.card_id, str) or not CARD_ID_RE.match(self.card_id):
            raise CardError(f"卡片 ID {self.card_id!r} 只能包含字母、数字和 _-@")
        if len(self.card_id.encode()) > MAX_CARD_ID_BYTES:
            raise CardError(f"卡片 ID 超过 {MAX_CARD_ID_BYTES} 字节")
        if not isinstance(self.title, str) or not self.title.strip():
            raise CardError("卡片标题不能为空")
        if len(self.buttons) > MAX_BUTTONS:
            raise CardError(f"卡片最多 {MAX_BUTTONS} 个按钮，实际 {len(self.buttons)} 个")
        if len(self.fields) > MAX_FIELDS:
            raise CardError(f"卡片最多 {MAX_FIELDS} 个字段，实际 {len(self.fields)} 个")
        if not all(isinstance(f, Field) for f in self.fields):
            raise CardError("fields 只能包含 Field")
        if not all(isinstance(b, Button) for b in self.buttons):
            raise CardError("buttons 只能包含 Button")
        tokens = [b.token(self.card_id) for b in self.buttons]
        if len(set(tokens)) != len(tokens):
            # WeCom rejects duplicate keys, and two identical taps are indistinguishable anyway
            raise CardError("两个按钮的动作和参数完全相同")
        for tok in tokens:
            if len(tok.encode()) > MAX_TOKEN_BYTES:
                raise CardError(f"按钮参数过长（编码后超过 {MAX_TOKEN_BYTES} 字节）")
        if self.result is not None and not str(self.result).strip():
            raise CardError("处理结果不能为空")

    @property
    def is_resolved(self) -> bool:
        return self.result is not None

    @property
    def active_buttons(self) -> tuple[Button, ...]:
        """Buttons that can still be tapped: none once the card is resolved."""
        return () if self.is_resolved else self.buttons

    def resolved(self, result_text: str) -> "Card":
        """The same card after a tap: result shown, every button inactive on every platform."""
        return dataclasses.replace(self, result=result_text)


INSTANCE_SEP = "@"         # card id + "@" + send suffix: WeCom task_id, DingTalk outTrackId
_SUFFIX_RE = re.compile(r"[^0-9A-Za-z_\-]")


def instance_id(card_id: str, send_key: str, limit: int = MAX_CARD_ID_BYTES) -> str:
    """The platform id of one send of a card: `card_id@suffix`, the suffix taken from
    `send_key` (the outbox's per-row key, the same on every retry of that send). WeCom's
    task_id and DingTalk's outTrackId must be unique per app, while a card id is the same each
    time its notice is sent again. The card id is shortened when the whole would pass `limit`."""
    suffix = _SUFFIX_RE.sub("", send_key)[-24:] or "0"
    head = card_id[: max(1, limit - len(suffix) - 1)]
    return f"{head}{INSTANCE_SEP}{suffix}"


def instance_of(platform_id: str, card_id: str) -> bool:
    """Whether a platform id (task_id, outTrackId) belongs to `card_id`: the card id itself
    (sent before per-send ids), or `instance_id(card_id, …)`."""
    if platform_id == card_id:
        return True
    head, sep, suffix = platform_id.rpartition(INSTANCE_SEP)
    return bool(sep and head and suffix) and card_id.startswith(head) and not _SUFFIX_RE.search(suffix)


class DecodedAction(NamedTuple):
    """A tap decoded from a platform callback; adapters turn it into `CardAction`."""
    card_id: str
    action: str
    values: dict[str, str]


# ---- compact action token ---------------------------------------------------------------

def encode_action_token(card_id: str, action: str, values: Mapping[str, str]) -> str:
    """`action~card_id~base64url(json(values))`: ASCII only, readable action for the logs."""
    packed = ""
    if values:
        raw = json.dumps(dict(values), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        packed = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return TOKEN_SEP.join((action, card_id, packed))


def decode_action_token(token: str) -> DecodedAction:
    """Inverse of `encode_action_token`; raises `CardDecodeError` on anything else."""
    if not isinstance(token, str):
        raise CardDecodeError("按钮标识不是字符串")
    parts = token.split(TOKEN_SEP)
    if len(parts) != 3:
        raise CardDecodeError(f"无法识别的按钮标识：{token[:60]!r}")
    action, card_id, packed = parts
    if not ACTION_RE.match(action) or not CARD_ID_RE.match(card_id):
        raise CardDecodeError(f"无法识别的按钮标识：{token[:60]!r}")
    return DecodedAction(card_id, action, _unpack_values(packed))


def _unpack_values(packed: str) -> dict[str, str]:
    if not packed:
        return {}
    try:
        raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
        values = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CardDecodeError("按钮参数无法解码") from exc
    return coerce_values(values)


def json_object(value: Any, what: str) -> dict[str, Any]:
    """A callback field that may arrive as a dict or as a JSON string (platforms do both)."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as exc:   # absurd nesting is not ours either
            raise CardDecodeError(f"{what}不是合法 JSON") from exc
    if not isinstance(value, dict):
        raise CardDecodeError(f"{what}不是 JSON 对象")
    return value


def coerce_values(values: Any) -> dict[str, str]:
    """Check a decoded value mapping: string keys, string values, no reserved keys."""
    if not isinstance(values, dict):
        raise CardDecodeError("按钮参数不是对象")
    out: dict[str, str] = {}
    for key, val in values.items():
        if not isinstance(key, str) or key in RESERVED_VALUE_KEYS:
            continue
        if isinstance(val, (dict, list)):
            raise CardDecodeError(f"按钮参数 {key!r} 不是简单值")
        out[key] = "" if val is None else str(val)
    return out


# ---- text helpers shared by the renderers -----------------------------------------------

ELLIPSIS = "…"
_DANGLING = {"\u200d", "\ufe0e", "\ufe0f"}   # ZWJ / variation selectors must not end a cut


def _trim_dangling(text: str) -> str:
    # a cut right after a joiner or before a combining mark leaves half a glyph
    while text and (text[-1] in _DANGLING or unicodedata.combining(text[-1])):
        text = text[:-1]
    return text


def clip_bytes(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut `text` to at most `limit` UTF-8 bytes, on a character boundary, marking the cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    mark = ellipsis.encode()
    if limit <= len(mark):
        return _trim_dangling(data[:max(limit, 0)].decode("utf-8", "ignore"))
    # decoding with "ignore" drops only the trailing partial character: UTF-8 self-synchronises
    head = data[: limit - len(mark)].decode("utf-8", "ignore")
    return _trim_dangling(head) + ellipsis


def clip_chars(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut `text` to at most `limit` characters (code points), marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return _trim_dangling(text[:max(limit, 0)])
    return _trim_dangling(text[: limit - len(ellipsis)]) + ellipsis


_MD_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")
# bold is exactly two asterisks: a masked phone's four (138****5678) are not markdown
_MD_EMPHASIS = re.compile(r"(?<!\*)\*\*(?!\*)|__|~~|`")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)


def strip_markdown(text: str) -> str:
    """Markdown-lite to plain text, for platforms/fallbacks that show text verbatim."""
    text = _MD_LINK.sub(r"\1 (\2)", text)
    text = _MD_HEADING.sub("", text)
    return _MD_EMPHASIS.sub("", text)


T = TypeVar("T")


def fit_to_size(build: Callable[[float], T], size: Callable[[T], int], limit: int) -> T:
    """Build with shrinking text budgets (scale 1, 1/2, 1/4 ...) until the result fits."""
    scale = 1.0
    for _ in range(8):
        result = build(scale)
        if size(result) <= limit:
            return result
        scale /= 2
    raise CardError(f"卡片内容过多，压缩后仍超过 {limit} 字节")


def card_to_dict(card: Card) -> dict[str, Any]:
    """JSON-safe form of a card (stored as CardRecord.content and in outbound rows)."""
    data = dataclasses.asdict(card)
    data["level"] = card.level.value
    return data


def chart_from_dict(data: Mapping[str, Any]) -> Chart:
    """Inverse of `dataclasses.asdict(chart)` (the card's stored form); re-validates it."""
    return Chart(kind=data.get("kind", ""), title=data.get("title", ""), labels=tuple(data.get("labels") or ()),
                 series=tuple(Series(s.get("name", ""), tuple(s.get("values") or ())) for s in data.get("series") or ()),
                 unit=str(data.get("unit") or ""))


def card_from_dict(data: dict[str, Any]) -> Card:
    """Inverse of `card_to_dict`; re-validates the card."""
    data = dict(data)
    data["fields"] = tuple(Field(**f) for f in data.get("fields") or ())
    data["buttons"] = tuple(Button(**b) for b in data.get("buttons") or ())
    data["chart"] = chart_from_dict(data["chart"]) if data.get("chart") else None
    names = {f.name for f in dataclasses.fields(Card)}
    return Card(**{k: v for k, v in data.items() if k in names})
