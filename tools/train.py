"""Train with AR-GRPO from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG GPUS [args]      # torchrun; on CPU the gloo backend
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from argrpo.engine import allow_mmengine_checkpoints, init_cpu_distributed  # noqa: E402
from argrpo.engine.launch import add_run_arguments, load_run_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train an AR image generator with GRPO')
    parser.add_argument('config')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or from the latest checkpoint of the work dir')
    parser.add_argument('--amp', action='store_true', help='bfloat16 mixed precision (GPU)')
    add_run_arguments(parser)
    return parser.parse_args(argv)


def build_config(args) -> Config:
    cfg = load_run_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main(argv=None) -> Runner:
    args = parse_args(argv)
    allow_mmengine_checkpoints()
    cfg = build_config(args)
    init_cpu_distributed(args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
