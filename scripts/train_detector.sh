#!/usr/bin/env bash
# How the bundled damage detector (weights/damage-detector) was trained, on a 2-core CPU with no GPU.
# Usage: [M1=50 M2=23 M3=4 M4=60 M5=45 M6=0 M7=0] scripts/train_detector.sh RUN_DIR
# A phase given 0 minutes is skipped. INIT=FOLDER starts a RUN_DIR that has no checkpoint yet from an
# exported detector, continuing its training record (the bundled detector's checkpoint is not
# shipped): the phases that run then go on from it. The card gets a row per phase.
# Each phase resumes from RUN_DIR/checkpoint.pt and its --max-minutes counts that phase only: to
# finish an interrupted recipe, set the phases already done to 0. Photos:
# python -m inpaint.datasets.open_photos.
#
# The phases (minutes of wall time; steps in the card):
#   1. Adam lr 1e-3, 50 min.
#   2. lr 2e-4, 23 min (lowering the rate raised validation F1 from 0.68 to 0.72).
#   3. lr 1e-4, 4 min.
#   4. lr 2e-4 with --thin-weight 4 --single-kind-fraction 0.3, 60 min: moderate scratches were
#      missed whole (recall 0.37), being a tiny share of the damaged pixels in the usual mix.
#   5. lr 5e-5, same flags, M5 min (40 for damage-w12-d5-s24382).
#   6. line features join (--line-sizes 3 7: top-hat and black-hat maps as extra inputs of the first
#      layer and, through one 3x3 convolution, of the logit at full resolution; their weights start
#      at zero, so the detector starts as itself), lr 1e-4, weights averaged (--ema-decay 0.999).
#   7. lr 3e-5, --ema-decay 0.998.
# DARK=W adds --dark-weight W to phases 6-7: the damage pixels made visibly darker weigh W more in the
#   loss (dark scratches are found half as often as bright ones; see the README).
# WIDTH=16 with INIT= a 12-channel detector widens it first (Net2Net: it starts as the same function).
# The bundled detector, damage-w16-d5-s55435: INIT= (damage-w12-d5-s42271) WIDTH=16 M1=0 M2=0 M3=0 M4=0
#   M5=0 M6=72 M7=20; s42271 itself: INIT= (damage-w12-d5-s24382) M1=0 M2=0 M3=0 M4=0 M5=0 M6=85 M7=30.
# AMP=off|auto|bf16 (default auto): training steps in bf16 on CPUs with native bf16 (AMX, AVX-512
#   BF16; 1.3-1.7x faster steps), float32 elsewhere. Every bundled phase ran in float32 (AMP=off).
# One intra-op thread: with the data worker on the other core it trains at about 20-25 crops/s here,
# against about 14.5 with two threads fighting the worker (step times in the run's log.jsonl).
# The validation crops (which pick the default threshold) come from the training photos with
# their own seeds, never from the evaluation photos evaluate-detection uses.
set -euo pipefail
RUN=${1:?run directory}
PY=${PYTHON:-.venv/bin/python}
DATA=${TRAIN_PHOTOS:-$HOME/.cache/inpaint-photos/train}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON=(--data "folder:$DATA" --val-data "$DATA" --out "$RUN" --width "${WIDTH:-12}" --depth 5 --crop 256 --scale 0.15 1.0
        --batch-size 8 --workers 1 --checkpoint-minutes 4 --val-every 250 --val-images 48 --steps 1000000
        --amp "${AMP:-auto}")
if [ -n "${INIT:-}" ] && [ ! -f "$RUN/checkpoint.pt" ]; then
  COMMON+=(--init "$INIT")  # the first phase that runs starts from it; the others resume (--init is ignored then)
fi
THIN=(--thin-weight 4 --single-kind-fraction 0.3)
LINES=(--line-sizes 3 7)
if [ "${DARK:-0}" != 0 ]; then LINES+=(--dark-weight "$DARK"); fi
phase() {  # phase MINUTES FLAGS...: one invocation, skipped at 0 minutes
  local minutes=$1; shift
  if [ "$minutes" != 0 ]; then "$PY" -m inpaint train-detector "${COMMON[@]}" "$@" --max-minutes "$minutes"; fi
}
phase "${M1:-50}" --lr 1e-3
phase "${M2:-23}" --lr 2e-4
phase "${M3:-4}" --lr 1e-4
phase "${M4:-60}" "${THIN[@]}" --lr 2e-4
phase "${M5:-45}" "${THIN[@]}" --lr 5e-5
phase "${M6:-0}" "${THIN[@]}" "${LINES[@]}" --lr 1e-4 --ema-decay 0.999
phase "${M7:-0}" "${THIN[@]}" "${LINES[@]}" --lr 3e-5 --ema-decay 0.998
