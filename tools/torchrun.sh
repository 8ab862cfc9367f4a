#!/usr/bin/env bash
# torchrun with mm's usual environment knobs; tools/dist_train.sh and tools/dist_test.sh call it.
#   bash tools/torchrun.sh NPROC SCRIPT [args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node. PYTHON picks the interpreter.
set -euo pipefail
NPROC=$1
shift
exec "${PYTHON:-python}" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --nproc_per_node="$NPROC" --master_port="${PORT:-29500}" "$@"
