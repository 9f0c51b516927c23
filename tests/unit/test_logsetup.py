"""bot/logsetup.py: the JSON format (one object per line, extras as fields, the traceback a
string), masking (phones in every form, configured secrets, URL passwords, bearer tokens,
token/secret query values) in both formats whatever logged them, traceback rate limiting
still working under the JSON format, and the config's secrets found at any depth."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logfilters import TracebackOncePerInterval
from bot.logsetup import Redactor, attach, config_secrets, mask_phones
from crm_core.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "crm-bot.example.yaml"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buf = io.StringIO()
    handler = attach(logging.StreamHandler(buf), "json", secrets=["s3cr3t-app-secret"])
    logger = logging.getLogger(f"test.logsetup.{id(buf)}")
    logger.propagate, logger.level = False, logging.DEBUG
    logger.addHandler(handler)
    yield logger, buf
    logger.removeHandler(handler)


def lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.mark.parametrize("raw, masked", [
    ("13812345678", "138****5678"), ("+8613812345678", "+86138****5678"), ("8613812345678", "86138****5678"),
    ("138-1234-5678", "138****5678"), ("138 1234 5678", "138****5678"), ("电话13812345678。", "电话138****5678。"),
    ("id=213812345678", "id=213812345678"),          # part of a longer number: not a phone
    ("12812345678", "12812345678"),                  # no mobile prefix 12x
])
def test_phone_forms(raw: str, masked: str) -> None:
    assert mask_phones(raw) == masked


def test_json_record_fields_extras_and_masking(logged) -> None:  # noqa: ANN001
    logger, buf = logged
    logger.info("lead %s from %s saved", 12, "13812345678",
                extra={"platform": "wecom", "event_id": "ev-1", "lead_id": 12, "phone": "13900001111"})
    logger.warning("calling https://api.example.com/send?access_token=abcdef123456&x=1 with Bearer abcdefghijkl "
                   "db postgresql://crm:pa55word@db:5432/crm secret s3cr3t-app-secret")
    first, second = lines(buf)
    assert first["level"] == "INFO" and first["event"] == "lead %s from %s saved"
    assert first["message"] == "lead 12 from 138****5678 saved"
    assert (first["platform"], first["event_id"], first["lead_id"], first["phone"]) == ("wecom", "ev-1", 12, "139****1111")
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    text = second["message"]
    assert "abcdef123456" not in text and "access_token=***" in text
    assert "Bearer ***" in text and "pa55word" not in text and "crm:***@db" in text
    assert "s3cr3t-app-secret" not in text


def test_a_traceback_is_one_masked_string_field(logged) -> None:  # noqa: ANN001
    logger, buf = logged
    try:
        raise ValueError("bad phone 13812345678\nsecond line")
    except ValueError:
        logger.exception("handler failed for %s", "ev-2", extra={"event": "handler.failed"})
    raw = buf.getvalue()
    assert raw.count("\n") == 1                                  # one record, one line
    rec = json.loads(raw)
    assert rec["event"] == "handler.failed" and "ValueError: bad phone 138****5678" in rec["traceback"]
    assert "13812345678" not in raw


def test_tracebacks_stay_rate_limited_in_json(logged) -> None:  # noqa: ANN001
    logger, buf = logged
    now = [0.0]
    logger.handlers[0].addFilter(TracebackOncePerInterval(60, clock=lambda: now[0]))
    for i in range(5):
        try:
            raise KeyError(f"k{i}")
        except KeyError:
            logger.exception("job failed")
    recs = lines(buf)
    assert len(recs) == 5 and sum("traceback" in r for r in recs) == 1
    assert "4 more since" in recs[-1]["message"] and recs[-1]["event"] == "job failed"


def test_text_format_is_masked_too() -> None:
    buf = io.StringIO()
    handler = attach(logging.StreamHandler(buf), "text", secrets=["s3cr3t-app-secret"])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "send to %s failed: %s", ("13812345678",
                               "token=s3cr3t-app-secret"), None)
    handler.handle(record)
    assert buf.getvalue().rstrip().endswith("send to 138****5678 failed: token=***")


def test_config_secrets_are_found_at_any_depth() -> None:
    cfg = load_config(EXAMPLE, env={})
    found = config_secrets(cfg)
    assert cfg.platforms.wecom.secret.get_secret_value() in found
    assert cfg.platforms.feishu.app_secret.get_secret_value() in found
    assert all(t.get_secret_value() in found for t in cfg.app.api_tokens)
    short = Redactor(["abc"])                                 # too short to mask safely
    assert short.clean("abc def") == "abc def"


def test_the_e2e_log_check_sees_what_it_must_refuse() -> None:
    from tests.helpers.log_scan import problems
    good = json.dumps({"time": "t", "level": "INFO", "event": "e", "message": "138****5678"})
    leaky = json.dumps({"time": "t", "level": "INFO", "event": "e", "message": "call 13812345678"})
    assert problems(good, ["s3cr3t-app-secret"]) == []
    assert [p.split(" holds")[0] for p in problems("\n".join([good, leaky]), [])] == ["line 2"]
    assert "not JSON" in problems("plain text line", [])[0]
    assert "lacks" in problems(json.dumps({"message": "x"}), [])[0]
    assert "secret" in problems(json.dumps({"time": "t", "level": "I", "event": "e",
                                            "message": "s3cr3t-app-secret"}), ["s3cr3t-app-secret"])[0]


def test_a_long_traceback_is_cut_to_its_ends(logged) -> None:  # noqa: ANN001
    logger, buf = logged

    calls: dict = {}                      # 100 distinct functions: Python folds only repeated frames
    exec("\n".join(f"def f{i}():\n    f{i + 1}()" for i in range(100))
         + "\ndef f100():\n    raise RuntimeError('at the bottom')", calls)
    try:
        calls["f0"]()
    except RuntimeError:
        logger.exception("deep failure")
    rec = lines(buf)[0]
    kept = rec["traceback"].splitlines()
    assert len(kept) <= 8 + 40 + 1 and "lines left out" in rec["traceback"]
    assert kept[0].startswith("Traceback") and kept[-1] == "RuntimeError: at the bottom"
    assert len(buf.getvalue()) < 8000


def test_the_work_in_hand_names_itself_in_every_line(logged) -> None:  # noqa: ANN001
    from bot.logsetup import log_context
    logger, buf = logged
    with log_context(platform="wecom", event_id="ev-9", rep=None):
        logger.warning("handler failed")
        with log_context(outbound_id=42):
            logger.info("sent", extra={"platform": "feishu"})      # the record's own extra wins
    logger.info("after")
    first, inner, after = lines(buf)
    assert (first["platform"], first["event_id"]) == ("wecom", "ev-9") and "rep" not in first
    assert (inner["platform"], inner["event_id"], inner["outbound_id"]) == ("feishu", "ev-9", 42)
    assert "platform" not in after and "event_id" not in after


@pytest.mark.parametrize(("level", "daemon", "shown"), [
    ("info", True, {"INFO", "WARNING"}), ("warning", True, {"WARNING"}), ("debug", True, {"DEBUG", "INFO", "WARNING"}),
    ("info", False, {"WARNING"}),               # a quiet command stays quiet whatever the config says
])
def test_logging_level_from_the_config(level: str, daemon: bool, shown: set[str]) -> None:
    """`logging.level` sets what serve / worker / scheduler write, whether the config is read
    after the daemon mode (as `serve` does) or before."""
    code = f"""
import logging
from bot.logsetup import install, for_daemon, apply_config
install(False)
if {daemon}:
    for_daemon()
apply_config("text", [], {level!r})
log = logging.getLogger("crm_bot.test")
log.debug("d-line"); log.info("i-line"); log.warning("w-line")
"""
    import subprocess
    import sys
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stderr
    got = {name for name, word in (("DEBUG", "d-line"), ("INFO", "i-line"), ("WARNING", "w-line")) if word in err}
    assert got == shown, err
