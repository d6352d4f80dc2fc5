"""Training and evaluation runs: what tools/train.py and tools/test.py do, for scripts too."""
import json
import os
import os.path as osp
from typing import Dict

import torch
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.logging import print_log
from mmengine.runner import Runner

from argrpo.engine import allow_mmengine_checkpoints
from argrpo.utils import require_file


def init_cpu_distributed(launcher: str) -> None:
    """MMEngine's launchers call torch.cuda.set_device; without a GPU start gloo ourselves."""
    if launcher == 'none' or torch.cuda.is_available() or torch.distributed.is_initialized():
        return
    if launcher == 'slurm':
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    torch.distributed.init_process_group('gloo')


def _runner(cfg: Config) -> Runner:
    allow_mmengine_checkpoints()
    init_cpu_distributed(cfg.get('launcher', 'none'))
    return Runner.from_cfg(cfg)


def train(cfg: Config) -> Runner:
    """Train as ``cfg`` says (see ``load_config`` / ``train_config``); the finished Runner."""
    runner = _runner(cfg)
    runner.train()
    return runner


def is_run_checkpoint(path: str) -> bool:
    """MMEngine checkpoints hold ``meta`` and ``state_dict``; a generator file does not."""
    try:
        content = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except RuntimeError:  # not a zip file: mmap is impossible
        content = torch.load(path, map_location='cpu', weights_only=True)
    return isinstance(content, dict) and 'state_dict' in content and 'meta' in content


def markdown_table(metrics: Dict[str, float]) -> str:
    rows = [f'| {name} | {value:.4f} |' if isinstance(value, float) else f'| {name} | {value} |'
            for name, value in metrics.items()]
    return '\n'.join(['| metric | value |', '|---|---|'] + rows) + '\n'


def evaluate(cfg: Config, checkpoint: str) -> Dict[str, float]:
    """Evaluate ``checkpoint`` as ``cfg`` says (see ``evaluation_config``): a GRPO run checkpoint
    (MMEngine format, loaded strictly) or the generator's own weights (e.g. a LlamaGen file, the
    baseline before GRPO). Writes ``metrics.json`` and ``metrics.md`` to the work dir."""
    allow_mmengine_checkpoints()
    run_checkpoint = is_run_checkpoint(require_file(checkpoint, 'the checkpoint to evaluate'))
    if not run_checkpoint:
        cfg.model.generator.checkpoint = checkpoint
    runner = _runner(cfg)
    if run_checkpoint:
        runner.load_checkpoint(checkpoint, map_location='cpu', strict=True)
    metrics = runner.test()
    if is_main_process():
        with open(osp.join(cfg.work_dir, 'metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=2)
        table = markdown_table(metrics)
        with open(osp.join(cfg.work_dir, 'metrics.md'), 'w') as f:
            f.write(table)
        print_log('\n' + table, logger='current')
    return metrics
