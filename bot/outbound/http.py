"""Shared HTTP plumbing for the three platform clients: one request helper with short
timeouts, and the four error classes every client maps its platform's codes onto.

Error texts never contain URLs (they carry access tokens and webhook keys), request bodies
or response headers: they name the platform, the API and the platform's code only.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests

# (connect, read) seconds: a platform API that has not answered in 10 s is treated as down,
# and the delivery queue retries with backoff instead of tying up a worker thread.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
DEFAULT_RETRY_AFTER = 1.0
MAX_DETAIL = 160


class OutboundError(Exception):
    """Base class: something went wrong talking to a platform API."""

    def __init__(self, message: str, *, platform: str = "", api: str = "",
                 code: int | str | None = None) -> None:
        self.platform, self.api, self.code = platform, api, code
        self.already_logged = False      # the raiser reported it: the worker retries without a traceback
        where = " ".join(p for p in (platform, api) if p)
        super().__init__(f"{where}: {message}" if where else message)


class TransientError(OutboundError):
    """5xx, timeout, connection failure, "system busy": retry later with backoff."""


class TokenError(TransientError):
    """The access token was rejected even after one refresh: retry later."""


class RateLimited(OutboundError):
    """The platform (or our own limiter) says: not now. Hold and retry after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: float = DEFAULT_RETRY_AFTER,
                 users: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = max(0.0, float(retry_after))
        self.users = list(users or [])


class PermanentError(OutboundError):
    """A request the platform will never accept (bad recipient, bad secret, bad payload)."""


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_part(data: bytes, filename: str, *, sizes: tuple[int, int], platform: str, api: str,
               limit_text: str) -> tuple[str, bytes, str]:
    """The multipart file of an image upload (name, bytes, PNG or JPEG content type), or a
    PermanentError when its size is outside the platform's (min, max] bytes."""
    low, high = sizes
    if not low < len(data) <= high:
        raise PermanentError(f"image of {len(data)} bytes ({limit_text})", platform=platform, api=api)
    return filename, data, "image/png" if data[:8] == PNG_MAGIC else "image/jpeg"


def new_session() -> requests.Session:
    """A pooled session; one per client so connections are reused across calls.

    The environment (HTTPS_PROXY / NO_PROXY, REQUESTS_CA_BUNDLE) is read once per platform
    host by `send()`, not on every request: requests would scan os.environ each time, which
    costs about as much CPU as the call itself on a busy worker."""
    session = requests.Session()
    session.headers["User-Agent"] = "crm-bot/0.1"
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


_proxies: dict[str, dict[str, str]] = {}
_proxies_lock = threading.Lock()


def proxies_for(url: str) -> dict[str, str]:
    """The proxies the environment asks for this URL's scheme and host (NO_PROXY honoured)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    with _proxies_lock:
        found = _proxies.get(origin)
        if found is None:
            found = _proxies[origin] = dict(requests.utils.get_environ_proxies(origin))
        return found


def send(session: requests.Session, method: str, url: str, *, platform: str, api: str,
         timeout: tuple[float, float] | float = DEFAULT_TIMEOUT, **kw: Any) -> requests.Response:
    """Make one request; transport failures, HTTP 429 and 5xx become typed errors.

    Other 4xx responses are returned: each platform puts its own error code in the body.
    """
    if not session.trust_env and "proxies" not in kw:
        kw["proxies"] = proxies_for(url)
    try:
        resp = session.request(method, url, timeout=timeout, **kw)
    except requests.Timeout:
        raise TransientError("timed out", platform=platform, api=api) from None
    except requests.ConnectionError:
        # str(exc) would include the URL, and with it the access token
        raise TransientError("connection failed", platform=platform, api=api) from None
    except requests.RequestException as exc:
        raise TransientError(type(exc).__name__, platform=platform, api=api) from None
    if resp.status_code == 429:
        raise RateLimited("HTTP 429", retry_after=retry_after_of(resp), platform=platform,
                          api=api, code=429)
    if resp.status_code >= 500:
        raise TransientError(f"HTTP {resp.status_code}", platform=platform, api=api,
                             code=resp.status_code)
    return resp


def is_json(resp: requests.Response) -> bool:
    ctype = resp.headers.get("Content-Type", "").lower()
    return "json" in ctype or (ctype.startswith("text/plain") and resp.content[:1] == b"{")


def json_body(resp: requests.Response, *, platform: str, api: str) -> dict[str, Any]:
    """The response as a JSON object; anything else is a permanent protocol error."""
    try:
        data = resp.json()
    except (ValueError, json.JSONDecodeError):
        raise PermanentError(f"HTTP {resp.status_code}, body is not JSON", platform=platform,
                             api=api, code=resp.status_code) from None
    if not isinstance(data, dict):
        raise PermanentError("JSON body is not an object", platform=platform, api=api)
    return data


def retry_after_of(resp: requests.Response, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds to wait, from Feishu's `x-ogw-ratelimit-reset` or a standard `Retry-After`."""
    for name in ("x-ogw-ratelimit-reset", "Retry-After"):
        value = resp.headers.get(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return default


def detail(text: Any) -> str:
    """A platform's error message, shortened for logs and the outbox table."""
    return str(text or "")[:MAX_DETAIL]


class ClientBase:
    """What the three platform clients share: a session, timeouts, and `_send`."""
    platform = ""

    def __init__(self, *, session: requests.Session | None = None,
                 timeout: tuple[float, float] | float = DEFAULT_TIMEOUT) -> None:
        self.session = session or new_session()
        self.timeout = timeout

    def _send(self, method: str, url: str, api: str, **kw: Any) -> requests.Response:
        return send(self.session, method, url, platform=self.platform, api=api,
                    timeout=self.timeout, **kw)

    def _json(self, resp: requests.Response, api: str) -> dict[str, Any]:
        return json_body(resp, platform=self.platform, api=api)

    def close(self) -> None:
        self.session.close()
