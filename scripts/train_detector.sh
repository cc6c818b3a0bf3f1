#!/usr/bin/env bash
# How the bundled damage detector (weights/damage-detector) was trained, on a 2-core CPU with no GPU.
# Usage: scripts/train_detector.sh RUN_DIR [MINUTES_AT_LR_1e-3] [MINUTES_AT_LR_2e-4]
# Re-running continues from RUN_DIR/checkpoint.pt. Photos: python -m inpaint.datasets.open_photos.
# Two phases of Adam: lr 1e-3, then 2e-4 (lowering the rate raised validation F1 from 0.68 to 0.72
# within 9 minutes). The validation crops (which pick the default threshold) come from the
# training photos with their own seeds, never from the evaluation photos evaluate-detection uses.
set -euo pipefail
RUN=${1:?run directory}
M1=${2:-50}
M2=${3:-9}
PY=${PYTHON:-.venv/bin/python}
DATA=${TRAIN_PHOTOS:-$HOME/.cache/inpaint-photos/train}
COMMON=(--data "folder:$DATA" --val-data "$DATA" --out "$RUN" --width 12 --depth 5 --crop 256 --scale 0.15 1.0
        --batch-size 8 --workers 1 --checkpoint-minutes 4 --val-every 250 --val-images 48 --steps 1000000)
"$PY" -m inpaint train-detector "${COMMON[@]}" --lr 1e-3 --max-minutes "$M1"
"$PY" -m inpaint train-detector "${COMMON[@]}" --lr 2e-4 --max-minutes "$M2"
