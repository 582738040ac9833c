"""The command line: every command has --help, bad input is one line and a non-zero exit."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gvis.cli import _command_modules, main

CONTRACT = {"synth", "split", "detect", "track", "eval", "submit", "viz", "tune-baseline", "bench"}


def test_contract_commands_exist():
    names = {module.COMMAND for module in _command_modules()}
    missing = CONTRACT - names
    assert not missing, f"commands missing: {missing}"


@pytest.mark.parametrize("command", sorted(CONTRACT))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: gvis" in capsys.readouterr().out


def test_bad_input_is_one_line_error(tmp_path):
    missing = tmp_path / "missing.json"
    result = subprocess.run(
        [sys.executable, "-m", "gvis", "eval", str(missing), str(missing)],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip() and "Warning" not in line and "warnings.warn" not in line]
    assert len(lines) == 1 and "missing.json" in lines[0] and "Traceback" not in result.stderr
