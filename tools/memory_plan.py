"""Memory per GPU of AR-GRPO training from a config: parameters, gradients, optimizer state,
reference, frozen models, activations of one update minibatch, KV cache of one rollout chunk,
each phase of an iteration and its peak; the largest rollout chunk and update minibatch that fit.

    python tools/memory_plan.py CONFIG [--gpus N] [--lora] [--fsdp] [--memory 80]
                                [--chunk SAMPLES] [--minibatch SAMPLES] [--float32] [--cfg-options k=v ...]
    python tools/memory_plan.py CONFIG --measure    # plus one measured iteration on this machine
    python tools/memory_plan.py CONFIG --archs GPT-B GPT-L GPT-XL GPT-XXL GPT-3B [--table-gpus 4 8]

The formulas and what they assume: argrpo/apis/memory_plan.py. ``--measure`` runs one GRPO
iteration of the config (random weights, the reward replaced by GradientReward: no reward
weights needed) in this process on the CPU (peak RSS) or a GPU (max_memory_allocated) and
prints it beside the plan for the same run.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from mmengine.config import DictAction  # noqa: E402

from argrpo.apis import load_config  # noqa: E402
from argrpo.apis.memory_plan import GiB, frozen_models, largest, measure_peak, peak_table, plan  # noqa: E402
from argrpo.utils.cli import positive_float, positive_int  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Plan the memory of AR-GRPO training per GPU')
    parser.add_argument('config')
    parser.add_argument('--gpus', type=positive_int, default=1)
    parser.add_argument('--lora', action=argparse.BooleanOptionalAction, default=None,
                        help="train LoRA adapters (the config's model.lora, else r=16 on the blocks' linears)")
    parser.add_argument('--fsdp', action=argparse.BooleanOptionalAction, default=None,
                        help='shard parameters, gradients, optimizer state and reference over the GPUs')
    parser.add_argument('--memory', type=positive_float, default=80.0, help='GiB per GPU')
    parser.add_argument('--chunk', type=positive_int, help='samples per rollout chunk (default: the config)')
    parser.add_argument('--minibatch', type=positive_int, help='samples per update minibatch (default: the config)')
    parser.add_argument('--float32', action='store_true', help='train in float32 (the optimizer wrapper '
                        'as OptimWrapper) rather than as the config says')
    parser.add_argument('--device', choices=['cuda', 'cpu'], default='cuda', help='the device planned for')
    parser.add_argument('--measure', action='store_true', help='also measure one iteration here (of the config '
                        'as it is: set chunk and minibatches with --cfg-options)')
    parser.add_argument('--archs', nargs='+', help='print instead a markdown table of peaks of the config '
                        'with each of these GPT archs, on 1 GPU, with LoRA, and with DDP and FSDP on --table-gpus')
    parser.add_argument('--table-gpus', type=positive_int, nargs='+', default=[4, 8])
    parser.add_argument('--json', action='store_true', help='end with the planned and measured peaks in bytes as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    options = dict(args.cfg_options)
    if args.measure:
        options['model.reward'] = dict(_delete_=True, type='WeightedSum', rewards=[dict(type='GradientReward')])
    cfg = load_config(args.config, options)
    if args.float32:
        cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer,
                                 clip_grad=cfg.optim_wrapper.get('clip_grad'))
    if args.archs:
        print(peak_table(cfg, args.archs, args.table_gpus, args.memory))
        return
    kwargs = dict(gpus=args.gpus, lora=args.lora, fsdp=args.fsdp, device=args.device, frozen=frozen_models(cfg.model))
    result = plan(cfg, chunk=args.chunk, minibatch=args.minibatch, **kwargs)
    print(f'{osp.basename(args.config)}: {args.gpus} GPU(s), {args.memory:g} GiB each')
    print(result.table(args.memory))
    print(f'largest rollout chunk that fits: {largest(cfg, "chunk", args.memory, minibatch=args.minibatch, **kwargs)} '
          f'samples; largest update minibatch: {largest(cfg, "minibatch", args.memory, chunk=args.chunk, **kwargs)} '
          'samples')
    measured = measure_peak(cfg, args.device) if args.measure else None
    if measured is not None:
        print(f'measured peak: {measured / GiB:.3f} GiB, planned {result.peak / GiB:.3f} GiB '
              f'({(result.peak - measured) / measured:+.1%})')
    if args.json:
        print(json.dumps(dict(planned=result.peak, measured=measured)))


if __name__ == '__main__':
    main()
