#!/usr/bin/env bash
# Trains the damage detector by recipes/detector.toml, whose comments give each phase and its reasons.
# Usage: scripts/train_detector.sh RUN_DIR [--phase NAME]... [--set KEY=VALUE]...   (TRAIN_PHOTOS: photos)
set -euo pipefail
for knob in M1 M2 M3 M4 M5 M6 M7 INIT WIDTH DARK AMP; do
  [ -z "${!knob:-}" ] || { echo "$knob: set recipe options with --set (see recipes/detector.toml)" >&2; exit 2; }
done
recipe="$(dirname "$0")/../recipes/detector.toml"
exec "${PYTHON:-.venv/bin/python}" -m inpaint train-detector --recipe "$recipe" --out "${1:?run directory}" "${@:2}"
