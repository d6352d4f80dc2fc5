#!/usr/bin/env bash
# The GPU figures in one prepared run (benchmarks/gpu_suite.py): decoding against LlamaGen's compiled
# generate, GRPO iterations at the paper's per-GPU batch, FSDP and LoRA; one table at the end.
#   bash benchmarks/gpu_suite.sh [--llamagen DIR] [--json OUT.json] [--sections decode grpo fsdp lora] ...
# LlamaGen is never committed: clone it into the ignored third_party/LlamaGen (or pass --llamagen DIR;
# LLAMAGEN=DIR works too). Without a GPU the same command runs at tiny sizes on the CPU.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python}" "$ROOT/benchmarks/gpu_suite.py" --llamagen "${LLAMAGEN:-$ROOT/third_party/LlamaGen}" "$@"
