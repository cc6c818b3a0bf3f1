#!/usr/bin/env bash
# How the bundled weights/ were trained, on a 2-core CPU with no GPU (see weights/README.md).
# Usage: scripts/train_bundled.sh RUN_DIR [STAGE1_MINUTES] [STAGE2_MINUTES]
# Re-running continues from RUN_DIR/checkpoint.pt. Photos: python -m inpaint.datasets.open_photos.
#
# Stage 1 trains with the pixel terms only (valid L1, 6 x hole L1, 0.1 x TV): on this CPU the
# MobileNetV2 perceptual/style terms halve the throughput. Stage 2 is the paper's fine-tuning
# (lr 5e-5, encoder BatchNorm frozen) with the full loss; the style weight is 6 instead of 120
# because MobileNetV2's Gram matrices are about 20x larger than VGG16's on these photos (at 120 the
# style term was 30x the hole L1 term).
#
# DECODER_RENORM (default per_group): how the decoder renormalises its two inputs. The first 3,879
# steps of the bundled model ran with the paper's joint form (the only one then); per_group fixed
# thin holes being filled towards grey (see the model card), and a run may switch between them.
set -euo pipefail
RUN=${1:?run directory}
M1=${2:-90}
M2=${3:-20}
PY=${PYTHON:-.venv/bin/python}
DATA=${TRAIN_PHOTOS:-$HOME/.cache/inpaint-photos/train}
VAL=${VAL_PHOTOS:-$HOME/.cache/inpaint-photos/eval}
COMMON=(--data "folder:$DATA" --out "$RUN" --model compact --width 32 --depth 7 --crop 128
        --scale 0.1 1.0 --batch-size 16 --workers 1 --checkpoint-minutes 4 --val-every 250 --val-data "$VAL"
        --decoder-renorm "${DECODER_RENORM:-per_group}")
"$PY" -m inpaint train "${COMMON[@]}" --stage 1 --features none --steps 1000000 --max-minutes "$M1"
"$PY" -m inpaint train "${COMMON[@]}" --stage 2 --features mobilenet_v2 --loss-weights '{"style": 6.0}' \
    --steps 1000000 --max-minutes "$M2"
