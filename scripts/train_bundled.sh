#!/usr/bin/env bash
# Trains the restorer by recipes/restorer.toml, whose comments give each phase and its reasons.
# Usage: scripts/train_bundled.sh RUN_DIR [--phase NAME]... [--set KEY=VALUE]...   (TRAIN_PHOTOS, VAL_PHOTOS: photos)
set -euo pipefail
for knob in INIT PRIOR STAGE2_LOSS REFINE_CHANNELS REFINE_KERNEL DECODER_RENORM; do
  [ -z "${!knob:-}" ] || { echo "$knob: set recipe options with --set (see recipes/restorer.toml)" >&2; exit 2; }
done
recipe="$(dirname "$0")/../recipes/restorer.toml"
exec "${PYTHON:-.venv/bin/python}" -m inpaint train --recipe "$recipe" --out "${1:?run directory}" "${@:2}"
