"""Seconds per GRPO iteration (rollout / decode / reward / update), peak memory and the first
update's max |log r|, in float32 and in bf16 autocast (what ``tools/train.py --amp`` runs).

    python benchmarks/bench_grpo_step.py [--iters 5] [--config configs/grpo_tiny/grpo_tiny_c2i_gradient.py]
                                         [--device cpu|cuda] [--cfg-options k=v ...]
    python benchmarks/bench_grpo_step.py --reward-latency 0.01 [--rollout-chunk 8]

With ``--reward-latency S``, it measures instead the overlap of rewards with sampling: a reward
of known latency (``GradientReward`` waiting S seconds per image) served on 127.0.0.1 by the
reward service and called through ``RemoteReward``, rollouts in chunks, the iteration timed with
the rewards of chunk k computed while chunk k+1 is sampled and in the serial order, with a check
that both give the same rewards.

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
    first = model.train_step(dict(data, rollout_seed=0), optim)  # also the warm-up
    if args.device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
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
        peak = f'{torch.cuda.max_memory_allocated() / 2 ** 20:.0f} MiB CUDA allocated'
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak = f'{rss:.0f} MiB process RSS ({rss - rss_built:+.0f} MiB over the built model)'
    return dict(precision=args.precision, seconds=wall, parts={k[5:]: v / args.iters for k, v in totals.items()},
                peak=peak, onpolicy=max(onpolicy), group_size=model.algorithm.group_size,
                updates=f'{model.algorithm.inner_epochs} x {model.algorithm.minibatches}', sampler=repr(model.sampler))


def overlap(args) -> None:
    """Serial vs overlapped reward on a served reward of known latency (same draws)."""
    import threading

    import waitress

    from argrpo.rewards import GradientReward
    from argrpo.services import create_app
    server = waitress.create_server(create_app(GradientReward(latency=args.reward_latency)), host='127.0.0.1',
                                    port=0, threads=2)
    threading.Thread(target=server.run, daemon=True).start()
    url = f'http://127.0.0.1:{server.effective_port}'
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
    server.close()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py'))
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--prompts', type=int, default=4)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the config, on top of CFG 4, top-k 4, top-p 0.9')
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
    rows = []
    for precision in ('float32', 'bfloat16'):
        cmd = [sys.executable, __file__, '--precision', precision, '--config', args.config, '--iters', str(args.iters),
               '--prompts', str(args.prompts), '--device', args.device]
        if args.cfg_options:
            cmd += ['--cfg-options', *[f'{k}={v}' for k, v in args.cfg_options.items()]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f'{precision} failed:\n{proc.stderr[-3000:]}')
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first = rows[0]
    print(f'{osp.basename(args.config)} on {args.device}: {args.prompts} prompts x {first["group_size"]} samples, '
          f'{first["updates"]} updates per rollout, {first["sampler"]}')
    for row in rows:
        print(f'  {row["precision"]:>8}: {row["seconds"]:.3f} s/iteration (' + ', '.join(
            f'{k} {v:.3f} s' for k, v in row['parts'].items()) + f'); peak {row["peak"]}; '
            f'first-update max |log r| {row["onpolicy"]:.1e}')


if __name__ == '__main__':
    main()
