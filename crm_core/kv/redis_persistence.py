"""Does this Redis keep crm-bot's queues across its own restart? Start-up asks (bot/runtime.py).

A Redis that keeps nothing on disk loses every queued callback and reply when it restarts —
callbacks the platforms were already told we had — and nothing else would ever say so. AOF
(`appendonly yes`) keeps them (at most the last second with the default `appendfsync
everysec`); RDB snapshots alone (`save ...`) keep what the last snapshot caught, so that only
warns. Managed Redis services often refuse CONFIG: then `INFO persistence` must show AOF on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

log = logging.getLogger("crm_bot.kv")

FIX = ("turn on AOF: `redis-cli CONFIG SET appendonly yes` then `redis-cli CONFIG REWRITE` (or "
       "`appendonly yes` in redis.conf); or, where losing the queue on a Redis restart is acceptable "
       "(tests, a throwaway setup), set app.redis_allow_no_persistence: true")
FIX_ZH = ("请开启 AOF:redis-cli CONFIG SET appendonly yes,再 redis-cli CONFIG REWRITE(或在 redis.conf 中写 "
          "appendonly yes);若可以接受 Redis 重启时丢失队列(测试、临时环境),设置 app.redis_allow_no_persistence: true")


class RedisNotPersistent(RuntimeError):
    """Start-up refused: Redis would lose the queues on a restart (or cannot be asked)."""


@dataclass(frozen=True)
class Persistence:
    aof: bool                 # appendonly yes
    snapshots: str | None     # the `save` rules, "" = none; None: unknown (CONFIG refused, as on
                              # managed services: judged from INFO alone)
    write_errors: list[str]   # INFO persistence *_status fields that are not ok

    @property
    def keeps_queues(self) -> bool:
        return self.aof or bool(self.snapshots)


def inspect(client: redis.Redis) -> Persistence:
    """What the server does to keep its data (raises redis.RedisError when unreachable)."""
    info: dict[str, Any] = client.info("persistence")
    errors = [f"{k}:{v}" for k, v in sorted(info.items()) if k.endswith("_status") and v not in ("ok", None)]
    try:
        aof = client.config_get("appendonly").get("appendonly", "no") == "yes"
        save = str(client.config_get("save").get("save", "")).strip()
        return Persistence(aof, save, errors)
    except redis.ResponseError:      # CONFIG renamed or refused: INFO still says whether AOF is on
        return Persistence(bool(int(info.get("aof_enabled", 0))), None, errors)


def require_persistence(client: redis.Redis, url: str, *, allow_none: bool) -> Persistence | None:
    """Raise RedisNotPersistent unless the server keeps the queues (or `allow_none` accepts
    that it may not); log what is only worth a warning. None when the loss is accepted."""
    where = redact(url)
    try:
        found = inspect(client)
    except redis.RedisError as err:
        if allow_none:
            log.warning("could not ask Redis at %s about persistence (%s); starting anyway "
                        "(app.redis_allow_no_persistence)", where, err)
            return None
        raise RedisNotPersistent(f"Redis 无法连接 / Redis at {where} is not reachable ({err}): start it (or fix "
                                 "app.redis_url) first: crm-bot checks at start-up that Redis keeps the "
                                 "queues across its own restart") from err
    if found.write_errors:
        log.warning("Redis at %s reports failed persistence writes: %s", where, ", ".join(found.write_errors))
    if found.aof:
        return found
    if found.keeps_queues:
        log.warning("Redis at %s keeps RDB snapshots only (save %s): a Redis crash loses what came after "
                    "the last snapshot; appendonly yes keeps all but the last second", where, found.snapshots)
        return found
    if allow_none:
        log.warning("Redis at %s keeps nothing on disk: a Redis restart loses every queued message "
                    "(accepted by app.redis_allow_no_persistence)", where)
        return None
    what = ("keeps nothing on disk (appendonly no, save \"\")" if found.snapshots is not None
            else "does not show AOF on (aof_enabled:0) and refuses CONFIG, so its snapshots cannot be checked")
    raise RedisNotPersistent(
        f"Redis 不持久化,重启会丢失所有排队中的回调和回复,拒绝启动。{FIX_ZH}\n"
        f"Redis at {where} {what}: a Redis restart would lose every queued callback and reply, which the "
        f"platforms were already told we have. Refusing to start. To fix, {FIX}.")


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
