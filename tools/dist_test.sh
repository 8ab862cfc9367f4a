#!/usr/bin/env bash
# Distributed evaluation with torchrun and MMEngine's `pytorch` launcher.
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
# Multi-node: as tools/dist_train.sh. Without CUDA the processes run on CPUs and talk over gloo.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
DIR=$(cd "$(dirname "$0")" && pwd)
exec bash "$DIR/torchrun.sh" "$GPUS" "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
