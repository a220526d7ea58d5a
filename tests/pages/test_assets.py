"""The pages ship whole: every string in both languages, every key the templates and scripts use defined,
every asset bundled (no CDN) and packaged, vendored files as recorded."""

from __future__ import annotations

import hashlib
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from api.pages.i18n import STRINGS
from models.review import AssignmentStatus, Band, ReviewKind, ReviewLevel
from models.submissions import Overall, SubmissionStatus

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "api" / "pages"
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_string_exists_in_both_languages():
    for key, (zh, en) in STRINGS.items():
        assert zh.strip() and en.strip(), key
        assert CJK.search(zh) or zh == en or key == "other_lang", f"{key}: no Chinese in {zh!r}"
        assert not CJK.search(en) or key == "other_lang", f"{key}: Chinese in the English {en!r}"


def test_templates_and_scripts_use_only_defined_strings():
    used = set()
    for path in (PAGES / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*'([a-z0-9_]+)'\s*\)""", path.read_text()))
    for path in (PAGES / "static").glob("*.js"):
        used |= set(re.findall(r"""\bt\(\s*"([a-z0-9_]+)"\)""", path.read_text()))
    assert used and used <= set(STRINGS), sorted(used - set(STRINGS))


def test_keys_built_from_values_exist_for_every_value():
    built = {
        "status_": SubmissionStatus,
        "overall_": Overall,
        "kind_": ReviewKind,
        "level_": ReviewLevel,
        "a_status_": AssignmentStatus,
        "band_": Band,
    }
    for prefix, enum in built.items():
        for member in enum:
            assert prefix + member.value in STRINGS, prefix + member.value
    verdicts = ("valid", "invalid_no_face", "invalid_other_person", "needs_review", "not_checked")
    for key in [
        *(f"verdict_{v}" for v in verdicts),
        *(f"kind_{k}" for k in ("exact", "near", "partial", "audio_only")),
    ]:
        assert key in STRINGS, key


def test_no_asset_comes_from_another_site():
    for path in [*(PAGES / "templates").glob("*.html"), *(PAGES / "static").glob("*.js")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path.name
        assert "import(" not in text and "@import" not in text, path.name


def test_every_page_file_is_in_the_wheel():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    for path in [*(PAGES / "templates").rglob("*"), *(PAGES / "static").rglob("*")]:
        if path.is_file():
            relative = path.relative_to(ROOT / "api").as_posix()
            assert any(fnmatch(relative, g) for g in globs), f"{relative} is not in package-data"


def test_vendored_files_are_the_recorded_ones():
    record = (PAGES / "static" / "VENDORED.md").read_text()
    for name, digest in re.findall(r"\| `(vendor/[^`]+)` \|.*?\| `([0-9a-f]{64})` \|", record):
        assert hashlib.sha256((PAGES / "static" / name).read_bytes()).hexdigest() == digest, name
    assert "vendor/echarts.common.min.js" in record
