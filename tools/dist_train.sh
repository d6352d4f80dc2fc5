#!/usr/bin/env bash
# bash tools/dist_train.sh CONFIG GPUS [train.py args]   (NNODES, NODE_RANK, MASTER_ADDR, PORT)
exec bash "$(dirname "$0")/dist_launch.sh" train.py "$@"
