"""The type checker runs clean over bot, handlers, cards, crm_core and scheduler (config in
pyproject.toml). About a minute from a cold cache (a fresh clone), seconds after that."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mypy_reports_no_errors() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Success: no issues found" in run.stdout
