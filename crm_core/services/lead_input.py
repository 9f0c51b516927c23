"""`LeadInput`: the validated fields of a new lead, from any channel (chat draft, voice,
intake API, CSV import). Field errors name the field; phone/email are normalized here."""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_core.config.vocabulary import CHANNELS

CHANNEL_RE = r"^[A-Za-z0-9_\-]{1,40}$"
TIMELINE_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")

CHANNEL_LABELS = CHANNELS      # channel code → the label reps see; unknown codes show as-is


def checked_phone(v: str | None, error: str) -> str | None:
    """`v` normalized (None when empty); ValueError(`error`, with {v} filled in) when not a phone."""
    if not v:
        return None
    from crm_core.normalize import normalize_phone
    norm = normalize_phone(v)
    if norm is None:
        raise ValueError(error.format(v=v))
    return norm


def checked_email(v: str | None, error: str) -> str | None:
    """`v` normalized (None when empty); ValueError(`error`, with {v} filled in) when not an e-mail."""
    if not v:
        return None
    from crm_core.normalize import normalize_email
    norm = normalize_email(v)
    if norm is None:
        raise ValueError(error.format(v=v))
    return norm


def checked_timeline(v: str | None, error: str) -> str | None:
    """`v` when it is YYYY-MM or YYYY-MM-DD (None when empty); ValueError(`error`) otherwise."""
    if v and not TIMELINE_RE.match(v):
        raise ValueError(error)
    return v or None


class LeadInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(pattern=CHANNEL_RE, description="channel code, e.g. web_form / expo / chat")
    company: str | None = Field(None, max_length=200)
    contact_name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    wechat_id: str | None = Field(None, max_length=100)
    product: str | None = Field(None, max_length=100)
    budget_cny: int | None = Field(None, ge=0, le=10**13)
    timeline: str | None = None
    next_action: str | None = Field(None, max_length=50)
    industry: str | None = Field(None, max_length=50)
    region: str | None = Field(None, max_length=50)
    note: str | None = Field(None, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        code = v.lower()
        if code not in CHANNELS:
            known = ", ".join(CHANNELS)
            raise ValueError(f"unknown channel '{v}' (known: {known}) / 未知的渠道「{v}」")
        return code

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return checked_phone(v, "not a valid phone number / 不是有效的电话号码")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return checked_email(v, "not a valid e-mail address / 不是有效的邮箱")

    @field_validator("timeline")
    @classmethod
    def _timeline(cls, v: str | None) -> str | None:
        return checked_timeline(v, "timeline must be YYYY-MM or YYYY-MM-DD")

    def missing(self, required: list[str]) -> list[str]:
        """Required fields (from funnel.capture_required) that are empty."""
        return [f for f in required if getattr(self, f, None) in (None, "", [])]

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.source, self.source)
