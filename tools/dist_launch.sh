#!/usr/bin/env bash
# bash tools/dist_launch.sh TOOL.py CONFIG GPUS [tool args]: torchrun for train.py / test.py.
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each. On a machine without
# GPUs, GPUS processes run on the CPU (gloo).
TOOL=$1
CONFIG=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHONPATH="$DIR/..":${PYTHONPATH:-} \
python -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$DIR/$TOOL" "$CONFIG" --launcher pytorch "${@:4}"
