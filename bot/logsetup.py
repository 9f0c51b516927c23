"""How crm-bot logs: one stderr handler, installed by the `crm-bot` command.

- CLI commands are quiet: only warnings and errors (`-v` shows everything); the long-running
  commands (serve, worker, scheduler, sandbox) log INFO (`for_daemon`). Alembic's INFO lines
  ("Context impl SQLiteImpl." …) are shown only with `-v`.
- `logging.format: json` in the config (`apply_config`): one JSON object per line with time,
  level, logger, event (the message template, or an `event` given in `extra`), message and the
  ids a record carries in `extra` (platform, event_id, lead_id, …); a traceback is one string
  field, so a line is always one record.
- In both formats mainland mobile numbers are masked (138****5678) and the config's secrets,
  passwords in URLs, bearer tokens and token/secret/sign query values are replaced by ***,
  whatever logged them (`Redactor`, applied by both formatters to what they write)."""
from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, SecretStr

OURS = "_crm_bot_handler"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("alembic", "apscheduler")   # INFO chatter: every start, every CLI command, every job run

# a mainland mobile number, alone or after +86/86, with optional spaces or dashes: 138****5678
PHONE = re.compile(r"(?<![\d])((?:\+?86[- ]?)?1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?![\d])")
URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")
BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")     # a token, not the word "token"
SECRET_PARAM = re.compile(r"(?i)((?:access_token|token|secret|sign|signature|password|app_secret|encrypt_key)"
                          r"[\"']?\s*[=:]\s*[\"']?)([^&\s\"',}]+)")
MIN_SECRET = 6                            # shorter configured values would mask ordinary words
TRACEBACK_HEAD, TRACEBACK_TAIL = 8, 40    # lines kept of a long traceback (a RecursionError has ~3000)

# LogRecord attributes that are not `extra` fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


# ids of the work this thread is doing (set by the pipeline and the outbox): every JSON line
# logged meanwhile carries them, so a handler's error names its platform and event
_CONTEXT: ContextVar[dict[str, object]] = ContextVar("crm_bot_log_context", default={})


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Within the block, JSON log lines of this thread carry `ids` (None values left out)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def mask_phones(text: str) -> str:
    return PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class Redactor:
    """Masks phone numbers and secrets in text; the formatters pass every line through it, so
    nothing unmasked is written, whoever logged it and whatever filters ran before."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # longest first, so a secret containing another is replaced whole
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = URL_PASSWORD.sub(r"\1***\3", text)
        text = BEARER.sub(r"\1***", text)
        text = SECRET_PARAM.sub(r"\1***", text)
        return mask_phones(text)


def short_traceback(text: str) -> str:
    """A traceback of at most HEAD + TAIL lines: the outermost calls and the innermost ones,
    where it was raised; the middle is counted, so one bad request cannot write megabytes."""
    lines = text.splitlines()
    if len(lines) <= TRACEBACK_HEAD + TRACEBACK_TAIL:
        return text
    cut = len(lines) - TRACEBACK_HEAD - TRACEBACK_TAIL
    return "\n".join(lines[:TRACEBACK_HEAD] + [f"  ... {cut} lines left out ..."] + lines[-TRACEBACK_TAIL:])


class TextFormatter(logging.Formatter):
    """The plain format (time level logger: message), masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.clean(super().format(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return short_traceback(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, event, message, the record's
    extras, and `traceback` when there is one; every string masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        clean = self.redactor.clean
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "event": clean(str(getattr(record, "event", None) or _template(record))),
            "message": clean(record.getMessage()),
        }
        fields = {**_CONTEXT.get(), **{k: v for k, v in vars(record).items()
                                       if k not in _STANDARD and not k.startswith("_")}}
        for key, value in fields.items():
            if key not in out:
                plain = isinstance(value, (int, float, bool)) or value is None
                out[key] = value if plain else clean(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["traceback"] = clean(short_traceback(record.exc_text))
        if record.stack_info:
            out["stack"] = clean(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _template(record: logging.LogRecord) -> str:
    """The record's message template (the same for every record of one kind), before masking."""
    return str(getattr(record, "_template", None) or record.msg)[:120]


class _KeepTemplate(logging.Filter):
    """Runs first (before the traceback limiter rewrites a message): keeps the template as the JSON `event`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "_template"):
            record._template = str(record.msg) if record.args else _first_words(str(record.msg))
        return True


def _first_words(text: str) -> str:
    """A template-less message: its first words, digits dropped, stand in for its kind."""
    return re.sub(r"\d+", "N", text.split(":")[0])[:80]


_state: dict[str, Any] = {"verbose": False, "daemon": False, "level": "info"}
REDACTOR = Redactor()          # the `crm-bot` handler's; apply_config gives it the config's secrets


def our_handler() -> logging.Handler | None:
    return next((h for h in logging.getLogger().handlers if getattr(h, OURS, False)), None)


def install(verbose: bool = False) -> None:
    """The `crm-bot` command's logging: quiet (WARNING) unless `verbose`. Like basicConfig it
    leaves a process that already logs somewhere (a test runner) alone."""
    _state["verbose"] = verbose
    root = logging.getLogger()
    if root.handlers and our_handler() is None:
        return
    handler = our_handler()
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        setattr(handler, OURS, True)
        handler.addFilter(_KeepTemplate())
        handler.setFormatter(TextFormatter(REDACTOR))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


def for_daemon() -> None:
    """serve / worker / scheduler / sandbox: what they do is worth an INFO line (or the config's
    `logging.level`, applied when the config is read)."""
    _state["daemon"] = True
    _daemon_level()


def _daemon_level() -> None:
    if our_handler() is not None and _state["daemon"] and not _state["verbose"]:
        logging.getLogger().setLevel(getattr(logging, str(_state["level"]).upper()))


def config_secrets(model: BaseModel) -> list[str]:
    """Every secret value in the config (SecretStr fields, at any depth)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
    walk(model)
    return found


def apply_config(fmt: str, secrets: Iterable[str], level: str = "info") -> None:
    """The config's choices: the format (text | json), a daemon's level and the secrets never to print."""
    handler = our_handler()
    if handler is None:
        return
    REDACTOR.set_secrets(secrets)
    handler.setFormatter(JsonFormatter(REDACTOR) if fmt == "json" else TextFormatter(REDACTOR))
    _state["level"] = level
    _daemon_level()


def attach(handler: logging.Handler, fmt: str = "json", secrets: Iterable[str] = ()) -> logging.Handler:
    """Give another handler (a test's, a file) the same masking and format."""
    redactor = Redactor(secrets)
    handler.addFilter(_KeepTemplate())
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else TextFormatter(redactor))
    return handler
