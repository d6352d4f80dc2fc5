#!/usr/bin/env bash
# Set-up on a CPU machine: torch/torchvision pinned to the local 2.14.1 build (constraints file),
# the runtime, text-encoder (transformers) and test requirements, pyiqa without its heavy
# dependency list, argrpo editable.
# GPU users: install torch for your CUDA first, then run with ARGRPO_NO_TORCH_PIN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
constraints=(-c requirements/constraints.txt)
if [ "${ARGRPO_NO_TORCH_PIN:-0}" = "1" ]; then constraints=(); fi
python -m pip install -q "${constraints[@]}" -r requirements/runtime.txt -r requirements/optional.txt \
    -r requirements/tests.txt
python -m pip install -q --no-deps -r requirements/pyiqa.txt
python -m pip install -q --no-deps --no-build-isolation -e .
python -c "import argrpo, torch, mmengine, open_clip, pyiqa; print('argrpo', argrpo.__version__, 'torch', torch.__version__)"
