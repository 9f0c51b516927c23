"""`visibility:` — who sees which fields of which rows (issue 18). Per role: each field visible,
masked or hidden, and the rows in scope (own, team, pool, all). A person with several roles gets
the widest of them; admins see everything unless configured otherwise. Sensitive customer fields
(`encrypted_fields`) are stored encrypted with `field_key` (write it as `${CRM_BOT_FIELD_KEY}`:
the key comes from the environment, never from the file).

Roles left out keep the defaults below, which are crm-bot's behaviour before this section existed
for rep, supervisor, steward and admin (every field, every row; phones in full only where
`Action.VIEW_PHONE` allows); finance and service start narrow."""
from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Level = Literal["visible", "masked", "hidden"]
Scope = Literal["own", "team", "pool", "all"]
ViewRole = Literal["rep", "supervisor", "admin", "steward", "finance", "service"]

# Every field a visibility rule names: what it covers, and its label for people.
FIELDS: dict[str, str] = {
    "budget": "预算/金额",            # leads' budget_cny, budget totals (and order amounts)
    "phone": "电话",                  # contacts' phones, phones inside notes
    "owner": "负责人",                # who owns a customer or lead
    "notes": "跟进记录",              # activity texts and voice transcripts
    "pain_points": "痛点/异议",       # lead details objection_category / pain_points, customer extra pain_points
    "complaint": "投诉摘要",          # customer extra complaint_summary
    "id_number": "证件号",            # customer extra id_number
    "bank_account": "银行账号",       # customer extra bank_account
}
FieldName = Literal["budget", "phone", "owner", "notes", "pain_points", "complaint", "id_number", "bank_account"]
# Fields kept in `customers.extra` under this key (the rest are columns or derived).
EXTRA_KEYS: dict[str, str] = {"pain_points": "pain_points", "complaint": "complaint_summary",
                              "id_number": "id_number", "bank_account": "bank_account"}
ENCRYPTABLE: tuple[str, ...] = ("pain_points", "complaint", "id_number", "bank_account")
ROLE_ALIASES = {"sales": "rep"}       # the word companies use; `rep` in org.reps[].roles


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _everything() -> list[Scope]:
    return ["all"]


class RoleView(_Strict):
    """One role: its row scope and the level of each field (fields left out: `default`)."""
    scope: list[Scope] = Field(default_factory=_everything, min_length=1)
    default: Level = "visible"
    fields: dict[FieldName, Level] = Field(default_factory=dict)

    def level(self, name: str) -> Level:
        return self.fields.get(name, self.default)  # type: ignore[call-overload]


ALL = RoleView()
DEFAULT_ROLES: dict[str, RoleView] = {
    "rep": ALL, "supervisor": ALL, "steward": ALL, "admin": ALL,
    "finance": RoleView(scope=["all"], default="hidden",
                        fields={"budget": "visible", "owner": "visible", "phone": "masked",
                                "bank_account": "visible", "id_number": "masked"}),
    "service": RoleView(scope=["all"], default="hidden",
                        fields={"complaint": "visible", "owner": "visible", "phone": "masked", "notes": "visible"}),
}


def fernet_key_problem(key: str) -> str | None:
    """Why `key` is not a Fernet key (32 bytes, url-safe base64), or None."""
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        return ("not a key: 32 bytes in url-safe base64 (make one with `crm-bot token field-key`) / "
                "不是有效密钥:需为 url-safe base64 编码的 32 字节(可用 `crm-bot token field-key` 生成)")
    return None


class Visibility(_Strict):
    roles: dict[str, RoleView] = Field(default_factory=dict)
    encrypted_fields: list[FieldName] = Field(default_factory=list)
    field_key: SecretStr | None = None

    @field_validator("roles", mode="before")
    @classmethod
    def _role_names(cls, v: object) -> object:
        if not isinstance(v, dict):
            return v
        out = {ROLE_ALIASES.get(str(k), str(k)): r for k, r in v.items()}
        unknown = sorted(set(out) - set(DEFAULT_ROLES))
        if unknown:
            raise ValueError(f"unknown role {', '.join(map(repr, unknown))} (one of: sales/rep, "
                             f"{', '.join(r for r in DEFAULT_ROLES if r != 'rep')}) / "
                             f"没有这个角色:{'、'.join(unknown)}")
        if len(out) != len(v):
            raise ValueError("sales and rep are the same role: give one of them / sales 与 rep 是同一角色,只写一个")
        return out

    @field_validator("encrypted_fields")
    @classmethod
    def _encryptable(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in ENCRYPTABLE]
        if bad:
            raise ValueError(f"{', '.join(bad)} cannot be encrypted (only: {', '.join(ENCRYPTABLE)}) / "
                             f"{'、'.join(bad)} 不能加密存储(只能是:{'、'.join(ENCRYPTABLE)})")
        return v

    @model_validator(mode="after")
    def _key_when_encrypting(self) -> "Visibility":
        key = self.field_key.get_secret_value() if self.field_key is not None else ""
        if self.encrypted_fields and not key:
            raise ValueError("field_key is required when encrypted_fields are set: field_key: ${CRM_BOT_FIELD_KEY} / "
                             "设置了 encrypted_fields 就必须提供 field_key(写作 ${CRM_BOT_FIELD_KEY},从环境变量读取)")
        if key and (problem := fernet_key_problem(key)):
            raise ValueError(f"field_key: {problem}")
        return self

    def role(self, name: str) -> RoleView:
        return self.roles.get(name) or DEFAULT_ROLES.get(name, ALL)


def visibility_warnings(visibility: Visibility, held_roles: set[str]) -> list[str]:
    """Rules for roles nobody holds (a typo in org.reps[].roles, or a role not yet given)."""
    return [f"visibility.roles.{role}: nobody in org.reps has this role, the rule applies to no one / "
            f"没有人有「{role}」这个角色,这条查看权限规则不作用于任何人"
            for role in sorted(visibility.roles) if role not in held_roles and role != "admin"]
