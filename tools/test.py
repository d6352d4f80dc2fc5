"""Evaluate a generator: sample the evaluation set, compute the configured metrics, save them.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out samples.npz] [--cfg-options k=v ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [args]

CHECKPOINT is a checkpoint of a GRPO run (MMEngine format, loaded strictly) or the generator's
own weights (a LlamaGen GPT file, e.g. the baseline before GRPO). The config's
``test_dataloader`` / ``test_evaluator`` (or, without them, its ``val_*``) say what is sampled
and measured. Writes ``metrics.json``, ``metrics.md`` and ``samples_grid.png`` to the work dir
(default work_dirs/<config name>/test), and with ``--out`` every sample as an ADM-compatible
npz (uint8 NHWC ``arr_0``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.apis import add_run_arguments, evaluate, evaluation_config, load_run_config  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate an AR image generator')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='a GRPO run checkpoint, or generator weights')
    parser.add_argument('--out', help='save all samples to this npz (relative to the work dir)')
    add_run_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    evaluate(evaluation_config(load_run_config(args, 'test'), args.out), args.checkpoint)


if __name__ == '__main__':
    main()
