"""Serve a config's reward over HTTP for ``RemoteReward`` (heavy or conflicting reward models in
their own process, environment or GPU). CONFIG's ``reward`` (else ``model.reward``) is built once.

    python tools/reward_server.py CONFIG [--host 127.0.0.1] [--port 8600] [--token T] [--threads N]
                                  [--max-batch B] [--device cpu|cuda]
    # the run's config:  reward = dict(type='RemoteReward', url='http://127.0.0.1:8600')
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.registry import REWARDS  # noqa: E402
from argrpo.services import create_app, reward_config, serve  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Serve a reward over HTTP')
    parser.add_argument('config', help='a config with `reward` (or `model.reward`): a REWARDS config')
    parser.add_argument('--host', default='127.0.0.1', help='where to listen (beyond the loopback, give a token)')
    parser.add_argument('--port', type=int, default=8600)
    parser.add_argument('--token', default=os.environ.get('ARGRPO_REWARD_TOKEN') or None,
                        help='clients must send it (default: $ARGRPO_REWARD_TOKEN)')
    parser.add_argument('--threads', type=int, default=4, help="waitress's threads (the reward runs one at a time)")
    parser.add_argument('--max-batch', type=int, help='score larger requests in chunks of this many images')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where the reward runs: cpu, cuda, cuda:1, ...')
    args = parser.parse_args()
    if args.threads < 1 or (args.max_batch is not None and args.max_batch < 1):
        parser.error('--threads and --max-batch must be >= 1')
    return args


def main() -> None:
    args = parse_args()
    reward = REWARDS.build(reward_config(Config.fromfile(args.config))).to(args.device)
    serve(create_app(reward, token=args.token, max_batch=args.max_batch), args.host, args.port, args.threads)


if __name__ == '__main__':
    main()
