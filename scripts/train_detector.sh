#!/usr/bin/env bash
# How the bundled damage detector (weights/damage-detector) was trained, on a 2-core CPU with no GPU.
# Usage: scripts/train_detector.sh RUN_DIR
# To go on from the bundled detector instead (its checkpoint is not shipped), run a phase with
# --init weights/damage-detector --out NEW_RUN: the export continues its training record, and the
# card gets a row per phase. --ema-decay exports a moving average of the weights.
# Each phase resumes from RUN_DIR/checkpoint.pt and its --max-minutes counts that phase only: to
# finish an interrupted recipe, comment out the phases already done. Photos:
# python -m inpaint.datasets.open_photos.
#
# The phases, as the bundled weights went through them (minutes of wall time; steps in the card):
#   1. Adam lr 1e-3, 50 min.
#   2. lr 2e-4, 23 min (lowering the rate raised validation F1 from 0.68 to 0.72).
#   3. lr 1e-4, 4 min.
#   4. lr 2e-4 with --thin-weight 4 --single-kind-fraction 0.3, 60 min: moderate scratches were
#      missed whole (recall 0.37), being a tiny share of the damaged pixels in the usual mix.
#   5. lr 5e-5, same flags, M5 min.
# One intra-op thread: with the data worker on the other core it trains at about 25 crops/s here,
# against about 14.5 with two threads fighting the worker (step times in the run's log.jsonl).
# The validation crops (which pick the default threshold) come from the training photos with
# their own seeds, never from the evaluation photos evaluate-detection uses.
set -euo pipefail
RUN=${1:?run directory}
M5=${M5:-45}
PY=${PYTHON:-.venv/bin/python}
DATA=${TRAIN_PHOTOS:-$HOME/.cache/inpaint-photos/train}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON=(--data "folder:$DATA" --val-data "$DATA" --out "$RUN" --width 12 --depth 5 --crop 256 --scale 0.15 1.0
        --batch-size 8 --workers 1 --checkpoint-minutes 4 --val-every 250 --val-images 48 --steps 1000000)
THIN=(--thin-weight 4 --single-kind-fraction 0.3)
"$PY" -m inpaint train-detector "${COMMON[@]}" --lr 1e-3 --max-minutes 50
"$PY" -m inpaint train-detector "${COMMON[@]}" --lr 2e-4 --max-minutes 23
"$PY" -m inpaint train-detector "${COMMON[@]}" --lr 1e-4 --max-minutes 4
"$PY" -m inpaint train-detector "${COMMON[@]}" "${THIN[@]}" --lr 2e-4 --max-minutes 60
"$PY" -m inpaint train-detector "${COMMON[@]}" "${THIN[@]}" --lr 5e-5 --max-minutes "$M5"
