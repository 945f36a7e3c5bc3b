"""The code stays formatted and lint-clean (black, ruff, snakefmt)."""

import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize(
    "command",
    [
        ["black", "--check", "-q", "src", "tests", "workflow", "benchmarks", "dev"],
        ["ruff", "check", "-q", "src", "tests", "workflow", "benchmarks", "dev"],
        ["snakefmt", "--check", "Snakefile", "rules"],
    ],
)
def test_formatting(command):
    result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
