"""Seconds per GRPO iteration, split into rollout / decode / reward / update, and peak memory.

    python benchmarks/bench_grpo_step.py [--iters 5] [--config configs/grpo_tiny/grpo_tiny_c2i_gradient.py]

Random weights; CPU, and CUDA when present. The update does one policy forward with grad and one
backward per inner step, and one reference forward per rollout (see ARGRPOModel.train_step).
"""
import argparse
import os.path as osp
import resource
import sys
import time

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from argrpo.registry import MODELS  # noqa: E402

PARTS = ('time_rollout', 'time_decode', 'time_reward', 'time_update')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                                                     'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py'))
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--prompts', type=int, default=4)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    for device in ['cpu'] + (['cuda'] if torch.cuda.is_available() else []):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).to(device)
        optim = build_optim_wrapper(model.policy, cfg.optim_wrapper)
        data = dict(cond=list(range(args.prompts)), prompt=['p'] * args.prompts)
        model.train_step(data, optim)  # warm-up
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        totals = dict.fromkeys(PARTS, 0.0)
        start = time.perf_counter()
        for _ in range(args.iters):
            log = model.train_step(data, optim)
            for key in PARTS:
                totals[key] += float(log[key])
        wall = (time.perf_counter() - start) / args.iters
        G = model.algorithm.group_size
        print(f'{osp.basename(args.config)} on {device}: {args.prompts} prompts x {G} samples, '
              f'{model.algorithm.inner_epochs} x {model.algorithm.minibatches} updates per rollout')
        print(f'  {wall:.3f} s/iteration: ' + ', '.join(
            f'{k[5:]} {v / args.iters:.3f} s' for k, v in totals.items()))
        peak = (torch.cuda.max_memory_allocated() / 2 ** 20 if device == 'cuda'
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(f'  peak memory: {peak:.0f} MiB ({"CUDA allocated" if device == "cuda" else "process RSS"})')


if __name__ == '__main__':
    main()
