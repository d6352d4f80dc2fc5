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
fail() { echo "tools/dist_launch.sh: $*" >&2; exit 2; }
[[ -n "$TOOL" && -n "$CONFIG" ]] || fail "usage: bash tools/dist_launch.sh TOOL.py CONFIG GPUS [tool args]"
[[ "$GPUS" =~ ^[0-9]+$ ]] && (( 10#$GPUS > 0 )) || fail "GPUS must be a positive integer (processes per machine), got '$GPUS'"
[[ "$NNODES" =~ ^[0-9]+$ ]] && (( 10#$NNODES > 0 )) || fail "NNODES must be a positive integer, got '$NNODES'"
[[ "$NODE_RANK" =~ ^[0-9]+$ ]] && (( 10#$NODE_RANK < 10#$NNODES )) || fail "NODE_RANK must be in 0-$((NNODES - 1)), got '$NODE_RANK'"
[[ "$PORT" =~ ^[0-9]+$ ]] && (( 10#$PORT >= 1 && 10#$PORT <= 65535 )) || fail "PORT must be in 1-65535, got '$PORT'"
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHONPATH="$DIR/..":${PYTHONPATH:-} \
python -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$DIR/$TOOL" "$CONFIG" --launcher pytorch "${@:4}"
