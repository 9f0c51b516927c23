"""The platform sandbox: a loopback HTTP server speaking the subset of the WeCom, DingTalk and
Feishu open APIs crm-bot calls (with real token, signature and response-code checks), which
records everything crm-bot sent, plus `PlatformSimulator`, which sends crm-bot the signed and
encrypted callbacks the platforms would. Part of the product: `crm-bot sandbox` runs it.

It lives at the top level, not in `bot/`: a product feature for admins and tests (a loopback
fake of the platforms' APIs), not part of the bot's runtime, which never imports it (only the CLI
does). It uses `bot.platforms` crypto/signing helpers and `cards`, never `handlers`/`scheduler`.

Deviations from / additions to the shared sandbox contract (the outbound clients rely on these):
* `sent()` returns *delivered* calls only (2xx and errcode/code 0); `sent(..., include_failed=True)`
  (`/_sandbox/sent?include_failed=1`) also returns rejected attempts, e.g. injected failures.
  `SentCall` has an extra `seq` (1, 2, ...) and an `ok` property; `sent(after=seq)` filters.
  `hits(platform, api)` counts every request, token fetches and failed attempts included.
* `fail(platform, api, ...)`: `api="*"` fails every API of the platform. API names: WeCom
  "gettoken", "message/send", "update_template_card", "media/get", "webhook"; DingTalk
  "accessToken", "batchSend", "groupMessages/send", "card/createAndDeliver", "card/update",
  "card/callbacks/register", "interactiveCards/send", "interactiveCards/update" (the robot's
  ordinary card), "messageFiles/download", "files", "session" (session webhook),
  "webhook" (custom robot on /dingtalk-oapi); Feishu "tenant_access_token", "im/messages",
  "im/reply", "im/patch", "card/update", "resources", "webhook" (custom bot).
* Injected failures: "5xx" = HTTP 503; "timeout" = the request is held `hang_seconds`
  (default 2 s) and then answered 504; "late" = the request is carried out (a message is
  delivered) but answered only after `hang_seconds`; "rate_limit" = WeCom errcode 45009 (HTTP 200), DingTalk
  HTTP 403 `Forbidden.AccessDenied.QpsLimitForApi` (what api.dingtalk.com really answers; the
  custom robot / session webhook answer errcode 130101), Feishu HTTP 429 + code 99991400 +
  `x-ogw-ratelimit-reset: 1` (custom bot: code 11232); "token_expired" = WeCom 42001, DingTalk
  HTTP 401 InvalidAuthentication, Feishu HTTP 400 + 99991663; "error:<code>" = WeCom errcode
  (HTTP 200), DingTalk HTTP 400 `{"code": "<code>"}`, Feishu HTTP 400 `{"code": <code>}`.
* Token errors: WeCom 41001 missing / 40014 unknown / 42001 expired; DingTalk always HTTP 401
  `InvalidAuthentication`; Feishu HTTP 400 with 99991661 (missing) / 99991663 (unknown or
  expired). Bad app secret: WeCom 40001 (40013 bad corpid), DingTalk HTTP 400
  `invalidClientIdOrSecret`, Feishu HTTP 200 + code 10014 (10003 for missing fields).
* WeCom: an unknown, expired or already used response_code gives errcode 40058, and so does a
  task_id the app used before. DingTalk card instances (`createAndDeliver`, `PUT
  /v1.0/card/instances`, `card/callbacks/register`) are described in `dingtalk_api`; a card
  with buttons but no callback settings is refused (`sandbox.card.noCallback`), an unknown
  outTrackId is HTTP 400 `param.outTrackId.notExist`. The Stream gateway wants a non-empty
  `subscriptions`, pushes only subscribed topics and keeps malformed acks apart
  (`rejected_acks`). Feishu schema 2.0 cards are checked by `feishu_cards` (230099 / 230025);
  Feishu card/update with a bad or used-up token (2 uses, 30 min) gives HTTP 400 code 300110.
* The Feishu custom-bot hook tokens are not in crm-bot's config schema: pass them as
  `SandboxCredentials(feishu_hooks={token: secret_or_None})`.
* Simulator: `verify_url()` returns `Handshake(response, expected)` (`.ok`), not a bare
  response; `tap()` also takes `stale_ok=True` (tap a card that was already resolved, as a second
  client still showing it would) and raises `CardNotTappable`; `wait_for_sent(..., after=seq)`
  with `sim.mark()` sees only newer calls. `PlatformSimulator(cfg, url, RemoteSandbox(url))`
  drives a sandbox running in another process (`crm-bot sandbox`) through `/_sandbox/`.
* Extra modules: `callbacks.py` (builds the platform → crm-bot requests) and `cardjson.py`
  (buttons and readable text from the platforms' card JSON).
"""
from sandbox.client import CardNotTappable, Handshake, PlatformSimulator, RemoteSandbox
from sandbox.cardjson import sent_as_text
from sandbox.server import SandboxServer
from sandbox.state import SandboxCredentials, SentCall

__all__ = ["CardNotTappable", "Handshake", "PlatformSimulator", "RemoteSandbox", "SandboxCredentials",
           "SandboxServer", "SentCall", "sent_as_text"]
