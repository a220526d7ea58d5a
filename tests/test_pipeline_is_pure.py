"""Imports run one way: ``pipeline`` takes paths, frames and arrays and imports nothing of ours
above it, nor Ray, a database or HTTP, so it is tested fast and alone."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"
FORBIDDEN = {
    *("core", "models", "workers", "api", "cli"),  # ours, above pipeline
    *("ray", "sqlmodel", "sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "httpx", "boto3"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_pipeline_imports_nothing_above_it():
    found = {
        str(path.relative_to(PIPELINE)): sorted(_imports(path) & FORBIDDEN)
        for path in sorted(PIPELINE.rglob("*.py"))
    }
    assert len(found) > 40  # the walk found the package
    assert {path: names for path, names in found.items() if names} == {}
