#!/usr/bin/env bash
# Distributed training with torchrun and MMEngine's `pytorch` launcher.
#   bash tools/dist_train.sh CONFIG GPUS [train.py options...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node. Without CUDA the processes run on
# CPUs and talk over gloo (mixskd_mm.engine.runner_setup.prepare_cpu_distributed).
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
DIR=$(cd "$(dirname "$0")" && pwd)
exec bash "$DIR/torchrun.sh" "$GPUS" "$DIR/train.py" "$CONFIG" --launcher pytorch "$@"
