"""Per-user API tokens (issue 18): created and revoked with `crm-bot token`, each acting as one
configured rep with that rep's roles (optionally fewer). A token is 32 random bytes
(`secrets.token_urlsafe`) behind the prefix `crm_`; only its SHA-256 is stored, so the table
cannot give a token back and a leaked database copy is no key. High-entropy tokens need no slow
hash: nothing can be guessed from the digest. The token text is shown once and never logged."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.authz import Principal
from crm_core.config.schema import AppConfig
from crm_core.db.models import ApiToken

PREFIX = "crm_"
# Last-used times are written at most this often per token (a busy integration is not a write per call).
TOUCH_EVERY_SECONDS = 60


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why (Chinese)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_personal(token: str) -> bool:
    return token.startswith(PREFIX)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    rep_id: str
    name: str | None
    roles: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.rep_id, row.name, tuple(row.roles or ()), row.created_at, row.last_used_at,
                     row.revoked_at, row.created_by)


def create_token(session: Session, cfg: AppConfig, rep_id: str, *, name: str | None = None,
                 roles: list[str] | None = None, created_by: str | None = None,
                 now: datetime) -> tuple[str, TokenInfo]:
    """(the token, shown once; its stored record). The rep must be configured and not departed;
    `roles` must be roles the rep holds."""
    rep = cfg.org.rep(rep_id)
    if rep is None:
        raise TokenError(f"配置里没有这位同事「{rep_id}」。")
    if rep.availability == "departed":
        raise TokenError(f"{rep.name}已标记为离职,不能再创建令牌。")
    extra = sorted(set(roles or ()) - set(rep.roles))
    if extra:
        raise TokenError(f"{rep.name}没有这些角色:{'、'.join(extra)}(现有:{'、'.join(rep.roles)})。")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=digest(token), rep_id=rep.id, name=(name or "").strip() or None,
                   roles=sorted(set(roles or ())), created_by=created_by, created_at=now)
    session.add(row)
    session.flush()
    return token, _info(row)


def list_tokens(session: Session, rep_id: str | None = None, include_revoked: bool = False) -> list[TokenInfo]:
    q = select(ApiToken).order_by(ApiToken.id)
    if rep_id is not None:
        q = q.where(ApiToken.rep_id == rep_id)
    if not include_revoked:
        q = q.where(ApiToken.revoked_at.is_(None))
    return [_info(r) for r in session.scalars(q)]


def revoke_token(session: Session, token_id: int, now: datetime) -> TokenInfo:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise TokenError(f"没有编号为 {token_id} 的令牌。")
    if row.revoked_at is None:
        row.revoked_at = now
    return _info(row)


def principal_for(session: Session, cfg: AppConfig, token: str, now: datetime) -> Principal | None:
    """The person a personal token acts as (their configured roles, narrowed to the token's),
    or None: unknown, revoked, or its rep no longer configured. Marks it used."""
    if not looks_personal(token):
        return None
    wanted = digest(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == wanted))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    rep = cfg.org.rep(row.rep_id)
    if rep is None:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= TOUCH_EVERY_SECONDS:
        row.last_used_at = now
    who = Principal.of(rep)
    if row.roles:
        who = Principal(who.id, who.name, frozenset(who.roles) & frozenset(row.roles), who.availability)
    return who
