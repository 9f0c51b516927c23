"""`crm-bot voice transcribe [--json] FILE...`: one JSON object per file, so an admin can try a
model on their own recordings; a file that is no audio gets its own error object and exit 1."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_core.voice import model_store

FIXTURES = Path(__file__).resolve().parents[2] / "bench" / "data" / "voice_zh"
pytestmark = pytest.mark.skipif(model_store.find_parts() is None, reason="the packaged Whisper base is not installed")


def test_cli_transcribes_files_as_json(tmp_path: Path) -> None:
    from bot.cli import cli

    junk = tmp_path / "junk.amr"
    junk.write_bytes(b"not audio at all")
    run = CliRunner().invoke(cli, ["voice", "transcribe", "--json", str(FIXTURES / "zh007.amr"), str(junk)])
    rows = [json.loads(line) for line in run.output.splitlines() if line.startswith("{")]
    assert run.exit_code == 1, run.output                  # one file failed
    good, bad = rows
    assert good["language"] == "zh" and good["transcript"] and 0 < good["confidence"] <= 1
    assert good["fields"]["budget_cny"] == 900000 and good["seconds"] > 0 and good["audio_seconds"] > 5
    assert bad["error"] == "corrupt" and "无法读取" in bad["message"]
