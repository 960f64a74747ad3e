"""The house rules, checked in `make test`: ruff clean (the rule set in pyproject.toml), imports one
way (the import-linter contracts there), types (mypy: strict on the pure parts), no module much
over 400 lines. Each fails with the tool's own report."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import REPO

pytestmark = pytest.mark.quick
PACKAGES = ("alerts", "camera_profiles", "common", "edge", "gateway")
MAX_LINES = 420  # "about 400": a module past this is split by what it does
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    out = run(str(BIN / "ruff"), "check", "--no-cache", *PACKAGES, "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_imports_follow_the_contracts():
    out = run(str(BIN / "lint-imports"), "--no-cache")
    assert out.returncode == 0, out.stdout + out.stderr


def test_types_check():
    out = run(str(BIN / "mypy"), "--no-incremental")
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_module_is_much_over_400_lines():
    long = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            n = len(path.read_text().splitlines())
            if n > MAX_LINES:
                long.append(f"{path.relative_to(REPO)}: {n} lines")
    assert not long, "split these by what they do:\n" + "\n".join(long)
