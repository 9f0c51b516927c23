"""The layer contracts in pyproject.toml ([tool.importlinter]) hold, and they do bite.

`lint-imports` runs in a subprocess (it puts its working directory first on sys.path, so it
sees the tree it is run in). The bite tests copy the contracts into a throwaway tree of empty
packages with the same names, add one forbidden import, and expect that contract, and only it,
to be reported broken. About 0.5 s per lint-imports run.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LINTER = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
CONTRACTS: list[dict] = LINTER["contracts"]
ROOTS: list[str] = LINTER["root_packages"]


def lint_imports(cwd: Path, config: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                           "from importlinter.cli import lint_imports_command as m; m()"]
    env = {**os.environ, **(extra_env or {})}
    return subprocess.run([*cmd, "--no-cache", "--no-logo", str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_repo_keeps_every_layer_contract():
    res = lint_imports(ROOT, PYPROJECT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in res.stdout, res.stdout


# ---- the contracts bite: the same contract text, run on a tiny fake tree --------------------

def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)                 # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"unexpected value in [tool.importlinter]: {value!r}")


def _config_for_fake_tree() -> str:
    """The pyproject contracts verbatim, except that an ignore line naming a module the fake tree
    lacks (the TEMPORARY ones) must not be an error there."""
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in LINTER.items() if k != "contracts"]
    for contract in CONTRACTS:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in contract.items()
                  if k != "unmatched_ignore_imports_alerting"]
        lines.append('unmatched_ignore_imports_alerting = "none"')
    return "\n".join(lines) + "\n"


def _fake_tree(tmp_path: Path) -> Path:
    """Empty packages with the real root names, plus the imports the contracts allow."""
    for root in ROOTS:
        (tmp_path / root).mkdir()
        (tmp_path / root / "__init__.py").write_text("")
        (tmp_path / root / "target.py").write_text("")
    (tmp_path / "bot" / "events.py").write_text("")
    (tmp_path / "handlers" / "allowed.py").write_text("import bot.events\nfrom bot.events import x\n")
    if "sandbox" in ROOTS:
        (tmp_path / "bot" / "cli").mkdir()
        (tmp_path / "bot" / "cli" / "__init__.py").write_text("import sandbox\nimport sandbox.target\n")
    config = tmp_path / "layers.toml"
    config.write_text(_config_for_fake_tree())
    return config


def _run_fake(tmp_path: Path, config: Path) -> subprocess.CompletedProcess:
    return lint_imports(tmp_path, config, {"PYTHONPATH": str(tmp_path)})


def test_the_fake_tree_with_only_allowed_imports_keeps_every_contract(tmp_path):
    res = _run_fake(tmp_path, _fake_tree(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    # The allowed imports were in the graph and let through by ignore_imports, not missed.
    for contract in CONTRACTS:
        ignores = contract.get("ignore_imports", [])
        if any(i.endswith(("-> bot.events", "-> sandbox")) for i in ignores):
            kept = rf"{re.escape(contract['name'])} KEPT \(\d+ ignored import"
            assert re.search(kept, res.stdout), res.stdout


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.get("id", c["name"]) for c in CONTRACTS])
def test_a_forbidden_import_breaks_its_contract(tmp_path, contract):
    assert contract["type"] == "forbidden"
    config = _fake_tree(tmp_path)
    source = contract["source_modules"][0]
    forbidden = next(m for m in contract["forbidden_modules"] if m in ROOTS)
    # A submodule, not the package: for handlers this is bot.target, next to the allowed bot.events.
    (tmp_path / source / "violation.py").write_text(f"import {forbidden}.target\n")

    res = _run_fake(tmp_path, config)

    assert res.returncode != 0, res.stdout + res.stderr
    assert f"{contract['name']} BROKEN" in res.stdout, res.stdout
    assert f"{source} is not allowed to import {forbidden}" in res.stdout, res.stdout
    assert f"{source}.violation -> {forbidden}.target" in res.stdout, res.stdout
    assert "Contracts: " in res.stdout and " 1 broken." in res.stdout, res.stdout
