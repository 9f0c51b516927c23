"""The e2e suite's own log, as `logging.format: json` writes it: every e2e test runs with a JSON
handler (bot/logsetup.py, the config's secrets given to it) on the root logger at INFO, and its
lines are checked afterwards: each parses as one JSON object with time, level, event and
message, and none holds an 11-digit mobile number or a configured secret."""
from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from bot.logsetup import attach

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
FIELDS = {"time", "level", "event", "message"}
LOG_FILE = os.environ.get("CRM_BOT_E2E_LOG")       # set: every test's JSON lines are appended here
SCANNED = {"lines": 0, "tests": 0}


def problems(text: str, secrets: list[str]) -> list[str]:
    """What is wrong with a JSON log: lines that are not one object with the fields, phones, secrets."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError:
            found.append(f"line {n} is not JSON: {line[:120]}")
            continue
        if not isinstance(rec, dict) or not FIELDS <= rec.keys():
            found.append(f"line {n} lacks {sorted(FIELDS - set(rec))}: {line[:120]}")
        if MOBILE.search(line):
            found.append(f"line {n} holds a full mobile number: {MOBILE.sub('<phone>', line)[:160]}")
        if any(s in line for s in secrets if len(s) >= 6):
            found.append(f"line {n} holds a configured secret")
    return found


@contextmanager
def json_log(secrets: list[str]) -> Iterator[io.StringIO]:
    """The root logger also writes JSON lines into the yielded buffer (INFO and up) meanwhile."""
    buf = io.StringIO()
    handler = attach(logging.StreamHandler(buf), "json", secrets)
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        SCANNED["tests"] += 1
        SCANNED["lines"] += buf.getvalue().count("\n")
        if LOG_FILE:
            with open(LOG_FILE, "a", encoding="utf-8") as out:
                out.write(buf.getvalue())
