"""The installed package (as the image installs it, without the dev extras) has every module it imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PACKAGES = ("api", "cli", "core", "models", "pipeline", "workers")
# Installed by infra/setup.sh and infra/Dockerfile outside pyproject (face_recognition must go in with
# --no-deps so that it does not pull a dlib source build; dlib-bin provides dlib).
INSTALLED_APART = {"face-recognition", "face-recognition-models", "dlib-bin", "pillow", "click"}
APART_MODULES = {"dlib", "face_recognition", "face_recognition_models"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(roots: set[str]) -> set[str]:
    """The distributions ``roots`` need at run time (their non-extra requirements, transitively)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def _imported_top_level() -> set[str]:
    names: set[str] = set()
    for package in RUNTIME_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(RUNTIME_PACKAGES) - set(sys.stdlib_module_names) - {"__future__"}


def test_every_runtime_import_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]} | INSTALLED_APART
    extras = {"ray": {"default"}, "uvicorn": {"standard"}, "psycopg": {"binary"}}
    available = _closure(runtime)
    for dist, names in extras.items():  # the extras pyproject asks for are part of the runtime too
        for r in metadata.requires(dist) or []:
            if any(f'extra == "{n}"' in r for n in names):
                available |= _closure({_name(r)})
    providers = metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_top_level() - APART_MODULES):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert dists, f"{module} is imported but no installed distribution provides it"
        if not dists & available:
            missing[module] = sorted(dists)
    assert missing == {}, f"imported at run time but only installed by the dev/bench extras: {missing}"
