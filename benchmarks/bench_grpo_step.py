"""Seconds per GRPO iteration (rollout / decode / reward / update), peak memory and the first
update's max |log r|, in float32 and in bf16 autocast (what ``tools/train.py --amp`` runs).

    python benchmarks/bench_grpo_step.py [--iters 5] [--config configs/grpo_tiny/grpo_tiny_c2i_gradient.py]
                                         [--device cpu|cuda] [--cfg-options k=v ...]
    python benchmarks/bench_grpo_step.py --reward-latency 0.01 [--rollout-chunk 8]
    python benchmarks/bench_grpo_step.py --memory [--log-prob-chunk 32]

With ``--reward-latency S``, it measures instead the overlap of rewards with sampling: a reward
of known latency (``GradientReward`` waiting S seconds per image) served on 127.0.0.1 by the
reward service and called through ``RemoteReward``, rollouts in chunks, the iteration timed with
the rewards of chunk k computed while chunk k+1 is sampled and in the serial order, with a check
that both give the same rewards.

With ``--memory``, it measures the peak memory of an iteration (float32) with each memory
option added in turn, each in a fresh process: the entropy differentiated (as when it has a
bonus), only logged, the head and log-softmax ``--log-prob-chunk`` positions at a time, and
activation checkpointing of the blocks; on a GPT with LlamaGen's vocabulary (16384), where the
[rows, L, V] logits of the update dominate.

Random weights (the output layer too, so that the token distributions are not uniform); by
default CFG 4, top-k 4 and top-p 0.9, the settings where rounding shows most. Each precision
runs in a fresh process, so that the CPU's peak memory (process RSS) is its own. The first
update of a rollout is on-policy: its max |log r| should be 0 (at most 1e-5) in both precisions.
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import time

import torch
from mmengine.config import DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from argrpo import apis  # noqa: E402
from argrpo.registry import MODELS  # noqa: E402

PARTS = ('time_rollout', 'time_decode', 'time_reward', 'time_update')
# --memory: a GPT whose update is dominated by LlamaGen-sized logits, and the options added in turn
MEMORY_MODEL = {'model.generator.n_layer': 4, 'model.generator.dim': 256, 'model.generator.n_head': 4,
                'model.generator.vocab_size': 16384, 'model.generator.block_size': 256,
                'model.tokenizer.codebook_size': 16384}
MEMORY_STEPS = (('entropy differentiated', {'model.algorithm.entropy_coef': 1e-12}),
                ('entropy logged only', {}),
                ('+ log_prob_chunk', {'model.log_prob_chunk': None}),
                ('+ activation_checkpointing', {'model.generator.activation_checkpointing': True}))
HARD_SAMPLING = {'model.sampler.cfg_scale': 4.0, 'model.sampler.top_k': 4, 'model.sampler.top_p': 0.9}


def measure(args) -> dict:
    """One precision, in this process: the figures as a dict."""
    cfg = apis.train_config(apis.load_config(args.config, {**HARD_SAMPLING, **args.cfg_options}),
                            amp=None if args.precision == 'float32' else args.precision)
    DefaultScope.get_instance('bench_grpo_step', scope_name='argrpo')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(args.device)
    with torch.no_grad():
        for p in model.policy.parameters():
            p.normal_(0, 0.1)
    model.sync_reference()
    optim = build_optim_wrapper(model.policy, cfg.optim_wrapper)
    data = dict(cond=list(range(args.prompts)), prompt=['p'] * args.prompts, index=list(range(args.prompts)))
    rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        allocated_built = torch.cuda.memory_allocated() / 2 ** 20
    first = model.train_step(dict(data, rollout_seed=0), optim)  # also the warm-up
    if args.device == 'cuda':
        torch.cuda.synchronize()
    totals = dict.fromkeys(PARTS, 0.0)
    onpolicy = [first['onpolicy_log_ratio_max'].item()]
    start = time.perf_counter()
    for i in range(args.iters):
        log = model.train_step(dict(data, rollout_seed=i + 1), optim)
        onpolicy.append(log['onpolicy_log_ratio_max'].item())
        for key in PARTS:
            totals[key] += float(log[key])
    if args.device == 'cuda':
        torch.cuda.synchronize()
    wall = (time.perf_counter() - start) / args.iters
    if args.device == 'cuda':
        top = torch.cuda.max_memory_allocated() / 2 ** 20
        peak, over = f'{top:.0f} MiB CUDA allocated', top - allocated_built
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak, over = f'{rss:.0f} MiB process RSS', rss - rss_built
    return dict(precision=args.precision, seconds=wall, over_built=over, parts={k[5:]: v / args.iters for k, v in totals.items()},
                peak=peak, onpolicy=max(onpolicy), group_size=model.algorithm.group_size,
                updates=f'{model.algorithm.inner_epochs} x {model.algorithm.minibatches}', sampler=repr(model.sampler))


def overlap(args) -> None:
    """Serial vs overlapped reward on a served reward of known latency (same draws)."""
    from argrpo.rewards import GradientReward
    from argrpo.services import BackgroundServer, create_app
    server = BackgroundServer(create_app(GradientReward(latency=args.reward_latency)), threads=2)
    url = server.url
    options = {**HARD_SAMPLING, 'model.rollout_chunk': args.rollout_chunk,
               'model.reward': dict(_delete_=True, type='RemoteReward', url=url, encoding='float32'), **args.cfg_options}
    cfg = apis.load_config(args.config, options)
    DefaultScope.get_instance('bench_grpo_step_overlap', scope_name='argrpo')
    data = dict(cond=list(range(args.prompts)), prompt=['p'] * args.prompts, index=list(range(args.prompts)))
    results = {}
    for overlapped in (False, True):
        torch.manual_seed(0)
        model = MODELS.build(dict(cfg.model, overlap_reward=overlapped))
        optim = build_optim_wrapper(model.policy, cfg.optim_wrapper)
        model.train_step(dict(data, rollout_seed=0), optim)  # warm-up
        walls, logs = [], []
        for i in range(args.iters):
            start = time.perf_counter()
            logs.append(model.train_step(dict(data, rollout_seed=i + 1), optim))
            walls.append(time.perf_counter() - start)
        results[overlapped] = (sum(walls) / len(walls), logs)
    server.stop()
    (serial, serial_logs), (overlapped, overlapped_logs) = results[False], results[True]
    n = args.prompts * model.algorithm.group_size
    sample = sum(float(log['time_rollout'] + log['time_decode']) for log in serial_logs) / args.iters
    reward = sum(float(log['time_reward']) for log in serial_logs) / args.iters
    other = serial - sample - reward
    same = all(torch.equal(a['reward_mean'], b['reward_mean']) and torch.equal(a['reward_std'], b['reward_std'])
               for a, b in zip(serial_logs, overlapped_logs))
    print(f'{osp.basename(args.config)} on {args.device}: {n} samples per iteration in chunks of '
          f'{args.rollout_chunk}, a served reward of {args.reward_latency * 1000:.0f} ms per image')
    print(f'  serial:     {serial:.3f} s/iteration (sampling and decoding {sample:.3f} s, reward {reward:.3f} s, '
          f'update and the rest {other:.3f} s)')
    chunks = -(-n // args.rollout_chunk)
    print(f'  overlapped: {overlapped:.3f} s/iteration; max(sampling, reward) + rest = '
          f'{max(sample, reward) + other:.3f} s, + the last chunk\'s reward (it cannot overlap) = '
          f'{max(sample, reward) + reward / chunks + other:.3f} s; their sum + rest = {serial:.3f} s')
    print(f'  rewards identical to the serial order: {same}')


def run_fresh(args, precision: str, options: dict) -> dict:
    """``measure`` in a fresh process (its own peak memory)."""
    cmd = [sys.executable, __file__, '--precision', precision, '--config', args.config, '--iters', str(args.iters),
           '--prompts', str(args.prompts), '--device', args.device]
    if options:
        cmd += ['--cfg-options', *[f'{k}={v}' for k, v in options.items()]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f'{precision} {options} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory(args) -> None:
    """Peak memory of float32 iterations with each memory option added to the previous ones."""
    options, rows = {**MEMORY_MODEL, **args.cfg_options}, []
    for name, step in MEMORY_STEPS:
        options = {k: v for k, v in options.items() if k != 'model.algorithm.entropy_coef'}
        options.update({k: args.log_prob_chunk if k == 'model.log_prob_chunk' else v for k, v in step.items()})
        rows.append((name, run_fresh(args, 'float32', options)))
    first = rows[0][1]
    sizes = ', '.join(f'{key.split(".")[-1]}={value}' for key, value in MEMORY_MODEL.items())
    print(f'{osp.basename(args.config)} with {sizes} '
          f'on {args.device}: {args.prompts} prompts x {first["group_size"]} samples, {first["updates"]} updates, '
          f'{first["sampler"]}, float32, log_prob_chunk={args.log_prob_chunk}')
    for name, row in rows:
        print(f'  {name:<28} peak {row["peak"]}, {row["over_built"]:+.0f} MiB over the built model '
              f'({row["over_built"] / first["over_built"]:.2f}x); {row["seconds"]:.2f} s/iteration '
              f'(update {row["parts"]["update"]:.2f} s)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py'))
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--prompts', type=int, default=4)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the config, on top of CFG 4, top-k 4, top-p 0.9')
    parser.add_argument('--memory', action='store_true', help='peak memory with each memory option added in turn')
    parser.add_argument('--log-prob-chunk', type=int, default=32, help='positions per chunk (with --memory)')
    parser.add_argument('--precision', choices=['float32', 'bfloat16'], help='measure one, in this process')
    parser.add_argument('--reward-latency', type=float, help='seconds per image: measure the reward overlap')
    parser.add_argument('--rollout-chunk', type=int, default=8, help='samples per chunk (with --reward-latency)')
    args = parser.parse_args()
    if args.reward_latency is not None:
        overlap(args)
        return
    if args.precision:
        print(json.dumps(measure(args)))
        return
    if args.memory:
        memory(args)
        return
    rows = [run_fresh(args, precision, args.cfg_options) for precision in ('float32', 'bfloat16')]
    first = rows[0]
    print(f'{osp.basename(args.config)} on {args.device}: {args.prompts} prompts x {first["group_size"]} samples, '
          f'{first["updates"]} updates per rollout, {first["sampler"]}')
    for row in rows:
        print(f'  {row["precision"]:>8}: {row["seconds"]:.3f} s/iteration (' + ', '.join(
            f'{k} {v:.3f} s' for k, v in row['parts'].items()) + f'); peak {row["peak"]}; '
            f'first-update max |log r| {row["onpolicy"]:.1e}')


if __name__ == '__main__':
    main()
