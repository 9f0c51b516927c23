"""Sensitive customer fields encrypted at rest (issue 18): the fields named in
`visibility.encrypted_fields` are kept in `customers.extra` as {"fernet": "<token>"} (Fernet from
`cryptography`: AES-128-CBC + HMAC-SHA256, a timestamp, url-safe base64), with the key the config
takes from the environment (`visibility.field_key: ${CRM_BOT_FIELD_KEY}`; the config refuses
encrypted fields without a key, naming the key). A plain value (written before the field was
listed) is read as it is and sealed at its next write."""
from __future__ import annotations

import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from crm_core.config.schema import AppConfig
from crm_core.config.visibility import EXTRA_KEYS

log = logging.getLogger(__name__)
SEALED = "fernet"
UNREADABLE = "(无法解密)"


class FieldKeyMissing(RuntimeError):
    """Encrypted fields are configured (or found) but no key is."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class FieldCipher:
    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())

    @classmethod
    def of(cls, cfg: AppConfig) -> "FieldCipher | None":
        key = cfg.visibility.field_key
        return cls(key.get_secret_value()) if key is not None and key.get_secret_value() else None

    def seal(self, value: str) -> dict[str, str]:
        return {SEALED: self._fernet.encrypt(value.encode()).decode()}

    def open(self, stored: dict[str, Any]) -> str:
        try:
            return self._fernet.decrypt(str(stored[SEALED]).encode()).decode()
        except (InvalidToken, ValueError):
            return UNREADABLE


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value


def read_fields(cfg: AppConfig, extra: dict[str, Any] | None) -> dict[str, str]:
    """The customer's extra fields that visibility knows (field name → text), decrypted."""
    extra = extra or {}
    cipher: FieldCipher | None = None
    out: dict[str, str] = {}
    for name, key in EXTRA_KEYS.items():
        value = extra.get(key)
        if value in (None, ""):
            continue
        if is_sealed(value):
            cipher = cipher or FieldCipher.of(cfg)
            if cipher is None:      # sealed earlier, the key since removed from the config: say so, don't fail
                log.warning("customers.extra.%s is encrypted but visibility.field_key is not set", key)
                out[name] = UNREADABLE
            else:
                out[name] = cipher.open(value)
        else:
            out[name] = str(value)
    return out


def write_fields(cfg: AppConfig, extra: dict[str, Any] | None, values: dict[str, str | None]) -> dict[str, Any]:
    """A new `extra` with `values` (field name → text; None removes it) set, the configured
    fields sealed. Unknown field names are a ValueError."""
    unknown = sorted(set(values) - set(EXTRA_KEYS))
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)} (known: {', '.join(EXTRA_KEYS)})")
    out = dict(extra or {})
    sealed = set(cfg.visibility.encrypted_fields)
    cipher = FieldCipher.of(cfg) if sealed & set(values) else None
    for name, value in values.items():
        key = EXTRA_KEYS[name]
        if value is None or not str(value).strip():
            out.pop(key, None)
        elif name in sealed:
            if cipher is None:
                raise FieldKeyMissing("visibility.field_key is not set / 没有配置 visibility.field_key")
            out[key] = cipher.seal(str(value).strip())
        else:
            out[key] = str(value).strip()
    return out
