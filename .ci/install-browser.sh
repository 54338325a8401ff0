#!/usr/bin/env bash
# Headless Chromium + chromedriver (Debian packages) and selenium for the UI browser test.
# Idempotent and quiet: does nothing when both are already there. Needs root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-liberation \
        >/dev/null
fi

if [ -x "$PY" ] && ! "$PY" -c "import selenium" >/dev/null 2>&1; then
    "$PY" -m pip install --quiet "selenium>=4.20"
fi
