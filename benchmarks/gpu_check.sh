#!/usr/bin/env bash
# The GPU check of the Performance section (README), for one lent GPU; about 5 minutes on an H100.
#   1. benchmarks/bench_train_step.py in the ImageNet ResNet-50 setting (224x224, batch 64, AMP fp16 with
#      GradScaler, channels-last) for CE, MixSKD replicate and MixSKD conv: images/s, ms/step, peak memory;
#   2. one short real tools/train.py --amp run of a MixSKD config on CUDA (the Fashion-MNIST config: AmpOptimWrapper,
#      GradScaler, the adversarial term's gradient reversal, fp32 losses), then a probe of the dtypes inside a step.
# It needs torch, timm and mmengine (with mmengine's own pure-Python requirements) and no mmcv/mmdet/mmseg: step 0
# hides those packages from Python, so anything that imports them fails here.
#
# Usage, from the repository root:
#   bash benchmarks/gpu_check.sh               # on the GPU machine; results in $OUT (or ./gpu_check_out)
#   DRY_RUN=1 bash benchmarks/gpu_check.sh     # on a CPU: the same steps, tiny sizes (test_resnet, 2 steps)
# Carried to a machine without internet (README of the device tool): mmengine 0.10.7 and the requirements its
# image lacks as wheels in .whl/ (addict, termcolor, yapf, platformdirs), installed to /tmp/site when present;
# Fashion-MNIST's four IDX files in data/fashion-mnist/ (cp /usr/share/datasets/fashion-mnist/* data/fashion-mnist/).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
# step 0: mmcv, mmdet and mmseg cannot be imported (a package that raises ImportError shadows each)
HIDE=$(mktemp -d)
for pkg in mmcv mmdet mmseg; do
  mkdir -p "$HIDE/$pkg"
  echo "raise ImportError('$pkg is hidden by benchmarks/gpu_check.sh: the check must run without it')" \
    >"$HIDE/$pkg/__init__.py"
done
export PYTHONPATH=$HIDE:$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
FASHION=${FASHION_ROOT:-}
for d in data/fashion-mnist /usr/share/datasets/fashion-mnist; do
  if [ -z "$FASHION" ] && [ -e "$d/train-labels-idx1-ubyte.gz" -o -e "$d/train-labels-idx1-ubyte" ]; then FASHION=$d; fi
done
if [ -z "$FASHION" ]; then
  echo "gpu_check: no Fashion-MNIST IDX files: copy them to data/fashion-mnist/ or set FASHION_ROOT" >&2
  exit 2
fi
if [ -n "${DRY_RUN:-}" ]; then
  DEVICE=cpu BENCH=(--model test_resnet --no-cifar-stem --img-size 64 --batch 4 --num-classes 10 --steps 2 --warmup 1)
  TRAIN=(train_dataloader.dataset.num_per_class=2 train_dataloader.batch_size=8)
  AMP=$("$PY" -c 'from mixskd_mm.engine.cpu_perf import native_bf16; print("--amp" if native_bf16()[0] else "")')
else
  DEVICE=cuda BENCH=(--model resnet50 --no-cifar-stem --img-size 224 --batch 64 --num-classes 1000 --steps 20 --warmup 5)
  TRAIN=(train_dataloader.dataset.num_per_class=100 train_dataloader.batch_size=64)
  AMP=--amp
fi
{
  echo "== environment"
  "$PY" - "$DEVICE" <<'EOF'
import sys
import timm, torch, mmengine
print(f'torch {torch.__version__}, timm {timm.__version__}, mmengine {mmengine.__version__}')
if sys.argv[1] == 'cuda':
    print(f'GPU: {torch.cuda.get_device_name()}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB')
import mixskd_mm.engine, mixskd_mm.models, mixskd_mm.datasets, mixskd_mm.evaluation, mixskd_mm.engine.runner_setup  # noqa
hidden = [m for m in sys.modules if m.split('.')[0] in ('mmcv', 'mmdet', 'mmseg')]
assert not hidden, hidden
print('imports: no mmcv, mmdet or mmseg needed')
EOF
  echo "== 1. benchmark, $DEVICE, AMP, channels-last: CE, replicate, conv"
  "$PY" benchmarks/bench_train_step.py --device "$DEVICE" "${BENCH[@]}" --runs ce,replicate,conv $AMP \
    --json "$OUT/bench_gpu.json"
  echo "== 2. tools/train.py $AMP, MixSKD (replicate exits), $DEVICE"
  "$PY" tools/train.py configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py $AMP \
    --work-dir "$OUT/train" --cfg-options train_cfg.max_epochs=1 train_cfg.val_interval=2 param_scheduler=[] \
    default_hooks.logger.interval=1 default_hooks.checkpoint.save_best=None "${TRAIN[@]}" \
    train_dataloader.dataset.data_root="$FASHION" val_dataloader.dataset.data_root="$FASHION"
  "$PY" benchmarks/_gpu_amp_probe.py "$OUT/train" $AMP
} 2>&1 | tee "$OUT/gpu_check.log"
