"""Merge the LoRA adapters of a GRPO run into its generator and write a LlamaGen GPT file.

    python tools/merge_lora.py CONFIG CHECKPOINT --out merged.pt [--cfg-options k=v ...]

CONFIG is the run's config (``model.lora`` set), CHECKPOINT a checkpoint of that run (MMEngine
format), which holds the adapters; the base weights are read from ``model.generator.checkpoint``
as in training. The output, ``{'model': state_dict}`` in LlamaGen's key names, is the trained
policy without peft: ``generator.checkpoint`` of any config, or LlamaGen's own GPT, loads it.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from torch import nn

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.apis import is_run_checkpoint, load_config  # noqa: E402
from argrpo.engine import allow_mmengine_checkpoints  # noqa: E402
from argrpo.models.lora import apply_lora, merge_lora  # noqa: E402
from argrpo.registry import GENERATORS  # noqa: E402
from argrpo.utils import atomic_write, require_file  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Merge the LoRA adapters of a GRPO run into a LlamaGen GPT file')
    parser.add_argument('config', help="the run's config, with model.lora")
    parser.add_argument('checkpoint', help='a checkpoint of that run (iter_N.pth)')
    parser.add_argument('--out', required=True, help="the merged GPT, LlamaGen's {'model': state_dict}")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides')
    return parser.parse_args(argv)


def trained_policy(model_cfg: dict, checkpoint: str) -> nn.Module:
    """The run's policy: the configured generator (base weights from its file) with the LoRA
    adapters of ``checkpoint``."""
    if not model_cfg.get('lora'):
        raise ValueError('the config sets no model.lora: its runs train the whole generator, whose '
                         'checkpoints hold it whole; there are no adapters to merge')
    allow_mmengine_checkpoints()
    if not is_run_checkpoint(require_file(checkpoint, 'the run checkpoint')):
        raise ValueError(f'{checkpoint} is no checkpoint of a run (MMEngine format, with meta and state_dict)')
    policy = apply_lora(GENERATORS.build(model_cfg.generator), model_cfg.lora)
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
    trained = {key[len('policy.'):]: value for key, value in state.items() if key.startswith('policy.')}
    adapters = {name for name, p in policy.named_parameters() if p.requires_grad}
    if not adapters <= trained.keys():
        raise ValueError(f'{checkpoint} holds no LoRA adapters of this config (policy.{min(adapters - trained.keys())} '
                         'is missing): was the run trained with model.lora as the config sets it?')
    base = policy.state_dict()
    if base.keys() - trained.keys() and not model_cfg.generator.get('checkpoint'):
        raise ValueError(f'the base weights are neither in {checkpoint} nor in a file: set '
                         'model.generator.checkpoint to the GPT file the run started from')
    policy.load_state_dict(dict(base, **trained), strict=True)
    return policy


def main(argv=None) -> None:
    args = parse_args(argv)
    model_cfg = load_config(args.config, args.cfg_options).model
    state = {key: value.detach().cpu().contiguous()
             for key, value in merge_lora(trained_policy(model_cfg, args.checkpoint)).state_dict().items()}
    atomic_write(args.out, lambda f: torch.save({'model': state}, f))
    print(f'wrote the merged generator ({len(state)} tensors) to {args.out}')


if __name__ == '__main__':
    main()
