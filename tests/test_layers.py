"""The layers import one way: pipeline ← models ← core ← workers / api ← cli (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "models", "core", "workers", "api", "cli")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe)], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_imports_run_one_way():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "core" / "reaches_up.py").write_text("from api import errors  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "core.reaches_up -> api.errors" in result.stdout
