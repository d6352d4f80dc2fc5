#!/usr/bin/env bash
# The environment of the ImageReward service: a virtual environment of its own with image-reward
# 1.5 and its pins (timm 0.6.13, fairscale 0.4.13), argrpo without its dependencies and what
# tools/reward_server.py needs. The core environment never gets these pins.
#
#   bash tools/envs/image_reward_env.sh [VENV_DIR]      # default: .venv-image-reward
#   VENV_DIR/bin/python tools/reward_server.py configs/reward_services/image_reward.py --port 8601
#
# torch and torchvision are pinned by requirements/constraints.txt as in tools/install.sh; GPU
# users who installed torch for their CUDA into VENV_DIR first run with ARGRPO_NO_TORCH_PIN=1.
# PYTHON picks the interpreter that makes the environment (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-.venv-image-reward}
constraints=(-c requirements/constraints.txt)
if [ "${ARGRPO_NO_TORCH_PIN:-0}" = "1" ]; then constraints=(); fi
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
python="$venv/bin/python"
"$python" -m pip install -q "${constraints[@]}" -r requirements/image_reward.txt
"$python" -m pip install -q --no-deps --no-build-isolation -e .
"$python" -c "import ImageReward, timm, argrpo.services; print('ImageReward service environment:', '$venv', \
'timm', timm.__version__)"
