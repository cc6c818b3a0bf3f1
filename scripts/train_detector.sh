#!/usr/bin/env bash
# How the bundled damage detector (weights/damage-detector) was trained, on a 2-core CPU with no GPU.
# Usage: scripts/train_detector.sh RUN_DIR [MINUTES]
# Re-running continues from RUN_DIR/checkpoint.pt. Photos: python -m inpaint.datasets.open_photos.
# The validation crops (which pick the default threshold) come from the training photos with their
# own seeds, never from the evaluation photos that evaluate-detection reports on.
set -euo pipefail
RUN=${1:?run directory}
MINUTES=${2:-45}
PY=${PYTHON:-.venv/bin/python}
DATA=${TRAIN_PHOTOS:-$HOME/.cache/inpaint-photos/train}
"$PY" -m inpaint train-detector --data "folder:$DATA" --val-data "$DATA" --out "$RUN" \
    --width 12 --depth 5 --crop 256 --scale 0.15 1.0 --batch-size 8 --lr 1e-3 --workers 1 \
    --checkpoint-minutes 4 --val-every 250 --val-images 48 --steps 1000000 --max-minutes "$MINUTES"
