"""Everything the sandbox remembers: issued tokens, recorded outbound calls, downloadable media,
failure switches, the messages/cards it delivered and the short-lived codes the platforms hand
out (WeCom response_code, Feishu card tokens, DingTalk session webhooks). One lock guards it all,
because the HTTP server answers from many threads. Time comes from an injected clock."""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Callable

from crm_core.config.schema import AppConfig

TOKEN_TTL = 7200
SEEN_MAX_AGE = 4 * 3600.0     # the longest idempotency window of any platform (WeCom's duplicate check)
SEEN_PRUNE_AT = 50_000
SANDBOX_PLATFORMS = ("wecom", "dingtalk", "feishu")
FAIL_MODES = ("5xx", "timeout", "late", "token_expired", "rate_limit", "ok")   # plus "error:<code>"


@dataclass(frozen=True)
class SandboxCredentials:
    """The secrets the fake platforms check, taken from crm-bot's own config."""
    wecom_corp_id: str = ""
    wecom_secret: str = ""
    wecom_agent_id: int | None = None
    wecom_webhooks: dict[str, str] = field(default_factory=dict)          # robot key -> team id
    dingtalk_app_key: str = ""
    dingtalk_app_secret: str = ""
    dingtalk_robot_code: str = ""
    dingtalk_robots: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # token -> (team, SEC secret)
    dingtalk_card_template_id: str = ""      # the one template the fake card platform knows
    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_hooks: dict[str, str | None] = field(default_factory=dict)     # custom-bot hook token -> secret

    @classmethod
    def from_config(cls, cfg: AppConfig) -> "SandboxCredentials":
        w, d, f = cfg.platforms.wecom, cfg.platforms.dingtalk, cfg.platforms.feishu
        robots = {r.access_token.get_secret_value(): (team, r.secret.get_secret_value() if r.secret else None)
                  for team, r in d.group_robots.items()}
        return cls(
            wecom_corp_id=w.corp_id, wecom_secret=w.secret.get_secret_value(), wecom_agent_id=w.agent_id,
            wecom_webhooks={k.get_secret_value(): team for team, k in w.group_webhooks.items()},
            dingtalk_app_key=d.app_key, dingtalk_app_secret=d.app_secret.get_secret_value(),
            dingtalk_robot_code=d.robot_code, dingtalk_robots=robots, dingtalk_card_template_id=d.card_template_id,
            feishu_app_id=f.app_id, feishu_app_secret=f.app_secret.get_secret_value(),
        )


@dataclass(frozen=True)
class SentCall:
    """One call crm-bot made to a message API, as the sandbox answered it."""
    platform: str
    api: str
    recipient: str
    body: dict[str, Any]
    status_code: int
    response: dict[str, Any]
    at: float
    seq: int = 0

    @property
    def ok(self) -> bool:
        """Delivered: a 2xx answer without a platform error code."""
        code = self.response.get("errcode", self.response.get("code", 0))
        return 200 <= self.status_code < 300 and code in (0, None, "0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SentCall":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str
    message_id: str | None = None   # Feishu: the message the file belongs to


class TokenStatus(Enum):
    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"


@dataclass
class _Code:
    data: dict[str, Any]
    expires_at: float
    uses_left: int | None


def new_id(prefix: str = "", nbytes: int = 12) -> str:
    return prefix + secrets.token_hex(nbytes)


class SandboxState:
    """Thread-safe store behind the fake APIs; `clock` returns epoch seconds."""

    def __init__(self, credentials: SandboxCredentials, clock: Callable[[], float] = time.time) -> None:
        self.creds = credentials
        self.clock = clock
        self._lock = threading.RLock()
        self.wake = threading.Event()    # set on stop/reset: hanging "timeout" requests return
        self.reset()

    def now(self) -> float:
        return self.clock()

    def reset(self) -> None:
        """Forget everything except the credentials (tokens, calls, media, failures, codes)."""
        with self._lock:
            self._tokens: dict[str, dict[str, tuple[float, bool]]] = {p: {} for p in SANDBOX_PLATFORMS}
            self._calls: list[SentCall] = []
            self._hits: dict[tuple[str, str], int] = {}
            self._media: dict[tuple[str, str], Media] = {}
            self._failures: dict[tuple[str, str], tuple[str, int | None]] = {}
            self._objects: dict[tuple[str, str], dict[str, Any]] = {}
            self._card_index: dict[tuple[str, str], str] = {}
            self._codes: dict[tuple[str, str], _Code] = {}
            self._seen: dict[tuple[str, str], tuple[float, Any]] = {}
            self.wake.set()
            self.wake = threading.Event()

    # ---- access tokens -----------------------------------------------------------------
    def issue_token(self, platform: str, prefix: str = "") -> tuple[str, int]:
        """The current token while it is valid (as the platforms do), else a new random one."""
        with self._lock:
            now = self.now()
            for token, (expires_at, expired) in self._tokens[platform].items():
                if not expired and expires_at - now > 60:
                    return token, int(expires_at - now)
            token = new_id(prefix, 24)
            self._tokens[platform][token] = (now + TOKEN_TTL, False)
            return token, TOKEN_TTL

    def check_token(self, platform: str, token: str | None) -> TokenStatus:
        if not token:
            return TokenStatus.MISSING
        with self._lock:
            entry = self._tokens[platform].get(token)
        if entry is None:
            return TokenStatus.INVALID
        expires_at, expired = entry
        return TokenStatus.EXPIRED if expired or self.now() >= expires_at else TokenStatus.OK

    def expire_tokens(self, platform: str | None = None) -> None:
        """Every token issued so far (for one platform or all) now answers "expired"."""
        with self._lock:
            for p in [platform] if platform else SANDBOX_PLATFORMS:
                self._tokens[p] = {t: (exp, True) for t, (exp, _) in self._tokens[p].items()}

    # ---- recorded calls ------------------------------------------------------------------
    def count_hit(self, platform: str, api: str) -> None:
        with self._lock:
            self._hits[(platform, api)] = self._hits.get((platform, api), 0) + 1

    def hits(self, platform: str | None = None, api: str | None = None) -> int:
        """How many requests reached an API (token fetches and failed attempts included)."""
        with self._lock:
            return sum(n for (p, a), n in self._hits.items()
                       if platform in (None, p) and api in (None, a))

    def record(self, platform: str, api: str, recipient: str, body: dict[str, Any],
               status_code: int, response: dict[str, Any]) -> SentCall:
        with self._lock:
            call = SentCall(platform, api, recipient, body, status_code, response, self.now(),
                            len(self._calls) + 1)
            self._calls.append(call)
            return call

    def sent(self, platform: str | None = None, api: str | None = None, *, since: float | None = None,
             after: int | None = None, include_failed: bool = False) -> list[SentCall]:
        """Recorded calls, oldest first; failed attempts only with `include_failed`."""
        with self._lock:
            calls = list(self._calls)
        return [c for c in calls
                if platform in (None, c.platform) and api in (None, c.api)
                and (since is None or c.at >= since) and (after is None or c.seq > after)
                and (include_failed or c.ok)]

    def last_seq(self) -> int:
        with self._lock:
            return len(self._calls)

    # ---- media -----------------------------------------------------------------------------
    def put_media(self, platform: str, key: str, data: bytes, content_type: str,
                  message_id: str | None = None) -> None:
        with self._lock:
            self._media[(platform, key)] = Media(bytes(data), content_type, message_id)

    def get_media(self, platform: str, key: str) -> Media | None:
        with self._lock:
            return self._media.get((platform, key))

    # ---- failure injection -----------------------------------------------------------------
    def fail(self, platform: str, api: str, mode: str, count: int | None = None) -> None:
        """Make `api` ("*" = every API of the platform) fail `count` times (None = until "ok")."""
        if platform not in SANDBOX_PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        if mode not in FAIL_MODES and not (mode.startswith("error:") and len(mode) > 6):
            raise ValueError(f"unknown failure mode {mode!r}")
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 or None")
        with self._lock:
            if mode == "ok":
                self._failures.pop((platform, api), None)
            else:
                self._failures[(platform, api)] = (mode, count)

    def take_failure(self, platform: str, api: str) -> str | None:
        """The failure mode to apply to this request (and count it down), or None."""
        with self._lock:
            for key in ((platform, api), (platform, "*")):
                if key not in self._failures:
                    continue
                mode, left = self._failures[key]
                if left is not None:
                    if left <= 1:
                        del self._failures[key]
                    else:
                        self._failures[key] = (mode, left - 1)
                return mode
        return None

    # ---- delivered messages and cards -------------------------------------------------------
    def put_object(self, platform: str, ref: str, info: dict[str, Any]) -> None:
        with self._lock:
            self._objects[(platform, ref)] = dict(info)

    def update_object(self, platform: str, ref: str, **changes: Any) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((platform, ref))
            if obj is not None:
                obj.update(changes)
            return dict(obj) if obj is not None else None

    def get_object(self, platform: str, ref: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((platform, ref))
            return dict(obj) if obj is not None else None

    def objects(self, platform: str) -> dict[str, dict[str, Any]]:
        """Every object kept under `platform` (ref → a copy of its info)."""
        with self._lock:
            return {ref: dict(obj) for (p, ref), obj in self._objects.items() if p == platform}

    def index_card(self, platform: str, card_id: str, ref: str) -> None:
        with self._lock:
            self._card_index[(platform, card_id)] = ref

    def card_ref(self, platform: str, card_id: str) -> str | None:
        with self._lock:
            return self._card_index.get((platform, card_id))

    # ---- short-lived codes --------------------------------------------------------------
    def issue_code(self, kind: str, *, ttl: float, uses: int | None, data: dict[str, Any],
                   prefix: str = "") -> str:
        code = new_id(prefix, 16)
        with self._lock:
            self._codes[(kind, code)] = _Code(dict(data), self.now() + ttl, uses)
        return code

    def peek_code(self, kind: str, code: str | None) -> dict[str, Any] | None:
        """The code's data while it is unexpired and has uses left; does not use it."""
        with self._lock:
            entry = self._codes.get((kind, code or ""))
            if entry is None or self.now() >= entry.expires_at or entry.uses_left == 0:
                return None
            return dict(entry.data)

    def consume_code(self, kind: str, code: str | None) -> dict[str, Any] | None:
        """Use the code once; None when unknown, expired or used up."""
        with self._lock:
            data = self.peek_code(kind, code)
            entry = self._codes.get((kind, code or ""))
            if data is not None and entry is not None and entry.uses_left is not None:
                entry.uses_left -= 1
            return data

    # ---- idempotency keys (Feishu uuid, WeCom duplicate check) -----------------------------------
    def once(self, platform: str, key: str, window: float, make: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, repeated): the value stored for `key` within `window`, else `make()`."""
        with self._lock:
            now = self.now()
            seen = self._seen.get((platform, key))
            if seen is not None and now - seen[0] < window:
                return seen[1], True
            value = make()
            self._seen[(platform, key)] = (now, value)
            return value, False

    def remember(self, platform: str, key: str, value: Any) -> None:
        """Record `key` as seen now (a delivery a later `once` call compares against)."""
        with self._lock:
            now = self.now()
            if len(self._seen) >= SEEN_PRUNE_AT:     # a long-running sandbox: forget what no window reaches
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < SEEN_MAX_AGE}
            self._seen[(platform, key)] = (now, value)
