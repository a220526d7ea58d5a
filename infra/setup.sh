#!/usr/bin/env bash
# Install what the project needs on a Debian machine: system packages when missing, then .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v fpcalc >/dev/null || missing+=(libchromaprint-tools)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
command -v pg_isready >/dev/null || missing+=(postgresql-client)
# Browser tests of the pages: Debian's chromium, driven by Playwright (pinned in pyproject's dev extras;
# Playwright's own browser download cannot work here), and a Chinese font for readable screenshots.
command -v chromium >/dev/null || missing+=(chromium)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# Every package at the version the suite last passed with (constraints.txt), so a fresh machine and CI
# get the same stack as the last green run.
# face_recognition on the prebuilt dlib-bin wheel (never compile dlib); setuptools<82 keeps pkg_resources.
$PIP install -q -c constraints.txt "setuptools<82" wheel dlib-bin face-recognition-models pillow click numpy
$PIP install -q -c constraints.txt --no-deps "face-recognition==1.3.0"
$PIP install -q -c constraints.txt -e ".[dev,bench]"
.venv/bin/python - <<'PY'
import cv2, dlib, face_recognition, pdqhash, ray, sqlmodel  # noqa: F401 — fail setup early if one is broken
print("setup: python stack ok (opencv", cv2.__version__, ", ray", ray.__version__, ")")
PY
