"""No CLI command prints log lines on a normal run: each command, as its own process on a
fresh data directory (the database migrated by the first), writes only its output; `-v`
shows the log (so the check can fail), and the same commands stay quiet with JSON logs."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "crm-bot.example.yaml"
# "2026-12-02 14:00:00,123 INFO name: …" (text) or {"time": …, "level": …} (json)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) |^\{\"time\": ")
COMMANDS = [["db", "upgrade"], ["config", "check"], ["report", "funnel"], ["report", "merges", "--month", "2026-11"], ["audit"],
            ["scheduler", "jobs"], ["queue", "stats"], ["queue", "dead"],
            ["export", "leads", "--as", "wang.fang", "-o", "-"]]
JSON_COMMANDS = COMMANDS[:3]          # the format changes nothing for a quiet command: a few suffice


def crm_bot(data_dir: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
    env["CRM_BOT_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "bot.cli", *args, "--config", str(config)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if LOG_LINE.search(line)]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_commands_print_only_their_output(tmp_path: Path, fmt: str) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["logging"] = {"format": fmt}
    config = tmp_path / "crm-bot.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    commands = COMMANDS if fmt == "text" else JSON_COMMANDS
    first = crm_bot(tmp_path, config, *commands[0])           # migrates the data dir's database
    # the others at once, each on its own copy of that data dir (one owner per KV journal)
    copies = [tmp_path / f"run-{i}" for i in range(1, len(commands))]
    for copy in copies:
        shutil.copytree(tmp_path, copy, ignore=shutil.ignore_patterns("run-*", "*.lock"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        rest = list(pool.map(lambda job: crm_bot(job[0], config, *job[1]), zip(copies, commands[1:])))
    for args, run in zip(commands, [first, *rest]):
        assert run.returncode == 0, (args, run.stdout, run.stderr)
        # stderr may carry a command's own note (queue dead: which queue file it reads), never a log line
        assert log_lines(run.stderr) == [] and log_lines(run.stdout) == [], (args, run.stdout, run.stderr)
        assert run.stdout.strip(), args                        # it printed its output
    loud = crm_bot(tmp_path, config, "-v", "db", "upgrade")     # the check sees log lines when there are some
    assert loud.returncode == 0 and log_lines(loud.stderr), loud.stderr
