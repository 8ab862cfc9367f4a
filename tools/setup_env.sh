#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) with the real OpenMMLab stack.
# Idempotent: a second run with unchanged pins only checks the imports (a few seconds).
#
# Environment:
#   PYTHON            interpreter to build the venv with (default: python3.11, else python3)
#   VENV              venv folder (default: .venv)
#   MIXSKD_WHEEL_DIR  extra folder searched first for a prebuilt mmcv wheel or repacked Detectron2 wheel; built
#                     wheels are also cached there (default: ~/.cache/mixskd_mm/wheels)
#   MIXSKD_SKIP_DETECTRON2=1  leave Detectron2 out (mixskd_mm imports without it; tests/detectron2 then skip)
# ../shared/wheels beside the checkout is searched too when it exists.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
CACHE_DIR=${MIXSKD_WHEEL_DIR:-$HOME/.cache/mixskd_mm/wheels}
REQ=requirements.txt
MMCV_VERSION=$(sed -n 's/^mmcv==\([0-9.]*\).*/\1/p' "$REQ")
stamp="$VENV/.mixskd_setup_stamp"

log() { printf '[setup] %s\n' "$*"; }
# pip warns about every package missing from machine-local extra indexes; keep real errors only
pip_quiet() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
pin() { grep -E "^$1==" "$REQ" | head -n1; }

# checksum of everything that decides what gets installed
want=$(cat "$REQ" pyproject.toml tools/setup_env.sh tools/install_data.sh tools/repack_detectron2.py | sha256sum | cut -d' ' -f1)

check_stack() {
  "$VENV/bin/python" - <<'PY'
import mmcv, mmcv.ops, torch  # noqa: F401  (mmcv.ops fails if the wheel does not match torch)
from mmcv.ops import nms
b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
nms(b, torch.tensor([0.9, 0.8]), 0.5)
import mmdet, mmseg, mmengine, timm, mixskd_mm  # noqa: F401,E401
import os, warnings  # noqa: E401
if not os.environ.get('MIXSKD_SKIP_DETECTRON2'):
    warnings.simplefilter('ignore', FutureWarning)  # Detectron2's torch.jit.script on import
    import detectron2.modeling, detectron2.engine  # noqa: F401,E401
PY
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && check_stack 2>/dev/null; then
  log "environment $VENV is up to date"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
pip=(pip_quiet "$VENV/bin/python" -m pip --disable-pip-version-check)

log "1/5 torch + torchvision"
"${pip[@]}" install -q -c "$REQ" "$(pin torch)" "$(pin torchvision)"
log "2/5 build tools (setuptools pinned after torch)"
"${pip[@]}" install -q -c "$REQ" "$(pin setuptools)" "$(pin wheel)" "$(pin ninja)"

mmcv_ok() { "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; }

install_mmcv_wheel() {  # $1 = wheel file; returns non-zero (and uninstalls) if it does not import
  log "trying mmcv wheel $1"
  "${pip[@]}" install -q -c "$REQ" --force-reinstall --no-deps "$1" &&
    "${pip[@]}" install -q -c "$REQ" "$1" && mmcv_ok && return 0
  log "wheel $1 does not import against this torch; ignoring it"
  "${pip[@]}" uninstall -q -y mmcv || true
  return 1
}

build_mmcv() {
  # mmcv 2.1.0 is on PyPI as a source archive only; its setup.py asks for -std=c++17 but torch
  # >= 2.10's headers need C++20. CFLAGS replaces Python's defaults: keep -O3 (ops 3-4x faster).
  log "building mmcv $MMCV_VERSION from source with ops (12-20 minutes on 2 cores)"
  local tmp; tmp=$(mktemp -d)
  "${pip[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$tmp"
  tar -xzf "$tmp"/mmcv-*.tar.gz -C "$tmp"
  local src; src=$(find "$tmp" -maxdepth 1 -type d -name "mmcv-*" | head -n1)
  sed -i "s/'-std=c++17'/'-std=c++20'/g" "$src/setup.py"
  mkdir -p "$CACHE_DIR"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} CFLAGS="-DNDEBUG -fwrapv -O3 -Wall -g0" \
    "${pip[@]}" wheel -q --no-deps --no-build-isolation "$src" -w "$CACHE_DIR"
  rm -rf "$tmp"
}

log "3/5 mmcv $MMCV_VERSION with ops"
if mmcv_ok; then
  log "mmcv $MMCV_VERSION already installed and imports"
else
  installed=0
  dirs=()
  [ -n "${MIXSKD_WHEEL_DIR:-}" ] && dirs+=("$MIXSKD_WHEEL_DIR")
  [ -d "$root/../shared/wheels" ] && dirs+=("$root/../shared/wheels")
  dirs+=("$CACHE_DIR")
  for d in "${dirs[@]}"; do
    for whl in "$d"/mmcv-"$MMCV_VERSION"-*.whl; do
      [ -f "$whl" ] || continue
      if install_mmcv_wheel "$whl"; then installed=1; break 2; fi
    done
  done
  if [ "$installed" = 0 ]; then
    build_mmcv
    install_mmcv_wheel "$(ls -t "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
  fi
fi

log "4/5 mmengine, mmdet, mmseg, timm and the rest; the project in editable mode"
"${pip[@]}" install -q -r "$REQ"
"${pip[@]}" install -q --no-deps --no-build-isolation -e .

D2_WHEEL=$("$VENV/bin/python" tools/repack_detectron2.py --print-name)
D2_VERSION=${D2_WHEEL#sal_detectron2-}; D2_VERSION=${D2_VERSION%%-*}
d2_ok() { "$VENV/bin/python" -c "import importlib.metadata as m, detectron2.modeling
assert m.version('sal-detectron2') == '$D2_VERSION'" 2>/dev/null; }
if [ -n "${MIXSKD_SKIP_DETECTRON2:-}" ]; then
  log "5/5 Detectron2 skipped (MIXSKD_SKIP_DETECTRON2)"
elif d2_ok; then
  log "5/5 Detectron2 $D2_VERSION already installed"
else
  # no official wheel on the registry: sal-detectron2 0.7.2 (upstream Detectron2), sha256-checked and repacked
  # as a pure-Python wheel (tools/repack_detectron2.py); the repacked wheel is cached like mmcv's
  log "5/5 Detectron2 $D2_VERSION (repacked sal-detectron2, pure Python)"
  whl=""
  for d in ${MIXSKD_WHEEL_DIR:+"$MIXSKD_WHEEL_DIR"} "$root/../shared/wheels" "$CACHE_DIR"; do
    [ -f "$d/$D2_WHEEL" ] && { whl="$d/$D2_WHEEL"; break; }
  done
  if [ -z "$whl" ]; then
    whl=$("$VENV/bin/python" tools/repack_detectron2.py --out "$CACHE_DIR")
  fi
  log "installing $whl"
  "${pip[@]}" install -q --no-deps --force-reinstall "$whl"
fi
check_stack
bash tools/install_data.sh || log "could not install Fashion-MNIST; the embedded-data configs fall back to MNIST-5k"
echo "$want" >"$stamp"
log "done: $("$VENV/bin/python" -c 'import torch, mmcv, mmdet, mmseg, timm; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "mmseg", mmseg.__version__, "timm", timm.__version__)')"
