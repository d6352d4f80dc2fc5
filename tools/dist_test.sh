#!/usr/bin/env bash
# bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]   (NNODES, NODE_RANK, MASTER_ADDR, PORT)
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
exec bash "$(dirname "$0")/dist_launch.sh" test.py "$CONFIG" "$GPUS" "$CHECKPOINT" "${@:4}"
