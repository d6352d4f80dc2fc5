"""Serve a config's reward over HTTP for ``RemoteReward`` (heavy or conflicting reward models in
their own process, environment or GPU). CONFIG's ``reward`` (else ``model.reward``) is built once.

    ARGRPO_REWARD_TOKEN=... python tools/reward_server.py CONFIG [--host 127.0.0.1] [--port 8600]
        [--token-file FILE] [--allow-no-token] [--threads N] [--max-batch B] [--max-body-mb 256]
        [--max-pixels P] [--device cpu|cuda]
    # the run's config:  reward = dict(type='RemoteReward', url='http://127.0.0.1:8600')
    # (RemoteReward reads the same $ARGRPO_REWARD_TOKEN)

The token comes from $ARGRPO_REWARD_TOKEN or a file (``--token`` still works, but shows in
``ps``); beyond the loopback the server refuses to start without one unless --allow-no-token.
Limits and what the server answers: docs/user_guides/reward_services_hardening.md.
"""
import argparse
import os
import os.path as osp
import sys
import warnings

import torch
from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.registry import REWARDS  # noqa: E402
from argrpo.services import create_app, reward_config, serve  # noqa: E402
from argrpo.services.reward_server import MAX_BODY, MAX_PIXELS, MiB, _is_loopback  # noqa: E402
from argrpo.utils.cli import port, positive_float, positive_int  # noqa: E402
from argrpo.utils.http import check_token  # noqa: E402

TOKEN_ENV = 'ARGRPO_REWARD_TOKEN'


def parse_args():
    parser = argparse.ArgumentParser(description='Serve a reward over HTTP')
    parser.add_argument('config', help='a config with `reward` (or `model.reward`): a REWARDS config')
    parser.add_argument('--host', default='127.0.0.1', help='where to listen (beyond the loopback, give a token)')
    parser.add_argument('--port', type=port, default=8600)
    parser.add_argument('--token-file', help=f'read the token from this file (default: ${TOKEN_ENV})')
    parser.add_argument('--token', help=f'the token itself: visible to every user in `ps`; prefer ${TOKEN_ENV} '
                        'or --token-file')
    parser.add_argument('--allow-no-token', action='store_true',
                        help='serve beyond the loopback without a token (a network that is yours alone)')
    parser.add_argument('--threads', type=positive_int, default=4,
                        help="waitress's threads (the reward runs one at a time)")
    parser.add_argument('--max-batch', type=positive_int, help='score larger requests in chunks of this many images')
    parser.add_argument('--max-body-mb', type=positive_float, default=MAX_BODY / MiB,
                        help='refuse (413) request bodies over this many MiB (default %(default)g)')
    parser.add_argument('--max-pixels', type=positive_int, default=MAX_PIXELS,
                        help='refuse (413) requests of more images x height x width (default %(default)d)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where the reward runs: cpu, cuda, cuda:1, ...')
    args = parser.parse_args()
    if args.token is not None and args.token_file is not None:
        parser.error('give the token once: --token or --token-file')
    if args.token is not None:
        warnings.warn(f'--token shows in `ps` to every user of this machine: prefer ${TOKEN_ENV} or --token-file')
        source, token = '--token', args.token
    elif args.token_file is not None:
        try:
            with open(args.token_file) as f:
                source, token = args.token_file, f.read().strip()
        except OSError as error:
            parser.error(f'--token-file: {error}')
    else:
        source, token = f'${TOKEN_ENV}', os.environ.get(TOKEN_ENV)
        token = token if token else None  # unset or empty: no token
    if token is not None:
        try:
            check_token(token, f'the token ({source})')
        except ValueError as error:
            parser.error(str(error))
    args.token = token
    if token is None and not args.allow_no_token and not _is_loopback(args.host):
        parser.error(f'refusing to serve on {args.host} without a token: anyone who reaches port {args.port} could '
                     f'use the reward. Set ${TOKEN_ENV} (or --token-file), or pass --allow-no-token if the network '
                     'is yours alone')
    return args


def main() -> None:
    args = parse_args()
    reward = REWARDS.build(reward_config(Config.fromfile(args.config))).to(args.device)
    app = create_app(reward, token=args.token, max_batch=args.max_batch, max_body=max(1, int(args.max_body_mb * MiB)),
                     max_pixels=args.max_pixels)
    try:
        serve(app, args.host, args.port, args.threads, allow_no_token=args.allow_no_token)
    except ValueError as error:  # beyond the loopback without a token
        sys.exit(f'tools/reward_server.py: {error}')


if __name__ == '__main__':
    main()
