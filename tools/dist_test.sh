#!/usr/bin/env bash
# Distributed evaluation with torchrun and MMEngine's `pytorch` launcher.
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
# Without CUDA the processes run on CPUs and talk over gloo (mixskd_mm.utils.config.prepare_cpu_distributed).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
DIR=$(cd "$(dirname "$0")" && pwd)
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" --master_port="$PORT" "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
