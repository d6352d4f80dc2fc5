"""Evaluate a generator: sample the evaluation set, compute the configured metrics, save them.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out samples.npz] [--cfg-options k=v ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [args]

CHECKPOINT is a checkpoint of a GRPO run (MMEngine format, loaded strictly) or the generator's
own weights (a LlamaGen GPT file, e.g. the baseline before GRPO). The config's
``test_dataloader`` / ``test_evaluator`` (or, without them, its ``val_*``) say what is sampled
and measured. Writes ``metrics.json``, ``metrics.md`` and ``samples_grid.png`` to the work dir,
and with ``--out`` every sample as an ADM-compatible npz (uint8 NHWC ``arr_0``).
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict

import torch
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.logging import print_log
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from argrpo.engine import allow_mmengine_checkpoints, init_cpu_distributed  # noqa: E402
from argrpo.engine.launch import add_run_arguments, load_run_config  # noqa: E402
from argrpo.utils import require_file  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate an AR image generator')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='a GRPO run checkpoint, or generator weights')
    parser.add_argument('--out', help='save all samples to this npz (relative to the work dir)')
    add_run_arguments(parser)
    return parser.parse_args(argv)


def is_run_checkpoint(path: str) -> bool:
    """MMEngine checkpoints hold ``meta`` and ``state_dict``; a generator file does not."""
    try:
        content = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except RuntimeError:  # not a zip file: mmap is impossible
        content = torch.load(path, map_location='cpu', weights_only=True)
    return isinstance(content, dict) and 'state_dict' in content and 'meta' in content


def build_config(args, run_checkpoint: bool) -> Config:
    cfg = load_run_config(args, 'test')
    for part in ('dataloader', 'evaluator', 'cfg'):
        if cfg.get(f'test_{part}') is None:
            if cfg.get(f'val_{part}') is None:
                raise ValueError(f'{args.config} has neither test_{part} nor val_{part}: '
                                 'say what to sample and measure')
            cfg[f'test_{part}'] = cfg[f'val_{part}'] if part != 'cfg' else dict(type='TestLoop')
    evaluator = cfg.test_evaluator
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    cfg.test_evaluator = metrics + [dict(type='SampleExport', out_dir=cfg.work_dir, npz=args.out)]
    cfg.load_from, cfg.resume = None, False
    if not run_checkpoint:
        cfg.model.generator.checkpoint = args.checkpoint
    return cfg


def markdown_table(metrics: Dict[str, float]) -> str:
    rows = [f'| {name} | {value:.4f} |' if isinstance(value, float) else f'| {name} | {value} |'
            for name, value in metrics.items()]
    return '\n'.join(['| metric | value |', '|---|---|'] + rows) + '\n'


def main(argv=None) -> Dict[str, float]:
    args = parse_args(argv)
    allow_mmengine_checkpoints()
    run_checkpoint = is_run_checkpoint(require_file(args.checkpoint, 'the checkpoint to evaluate'))
    cfg = build_config(args, run_checkpoint)
    init_cpu_distributed(args.launcher)
    runner = Runner.from_cfg(cfg)
    if run_checkpoint:
        runner.load_checkpoint(args.checkpoint, map_location='cpu', strict=True)
    metrics = runner.test()
    if is_main_process():
        with open(osp.join(cfg.work_dir, 'metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=2)
        table = markdown_table(metrics)
        with open(osp.join(cfg.work_dir, 'metrics.md'), 'w') as f:
            f.write(table)
        print_log('\n' + table, logger='current')
    return metrics


if __name__ == '__main__':
    main()
