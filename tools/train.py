"""Train with AR-GRPO from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp [bfloat16|float16]] [--fsdp]
                        [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG GPUS [args]      # torchrun; on CPU the gloo backend
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.apis import add_run_arguments, load_run_config, train, train_config  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train an AR image generator with GRPO')
    parser.add_argument('config')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or from the latest checkpoint of the work dir')
    parser.add_argument('--amp', nargs='?', const='bfloat16', choices=['bfloat16', 'float16'],
                        help='mixed precision (default bfloat16; float16 with loss scaling), GPU or CPU')
    parser.add_argument('--fsdp', action='store_true',
                        help='shard the policy and the reference across the processes (FSDP) instead of DDP')
    add_run_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    train(train_config(load_run_config(args), resume=args.resume, amp=args.amp, fsdp=args.fsdp))


if __name__ == '__main__':
    main()
