"""A reward as an HTTP service, so that heavy or conflicting reward models (a VLM judge, HPSv2 and
MANIQA on another GPU) run in their own process or environment; ``RemoteReward`` is the client.

The wire format is JSON with the images as base64 of their raw little-endian bytes (no pickle):

    GET  /health -> {"status": "ok", "reward": name, "type": class name}
    POST /score  {"prompts": [N strings],
                  "images": {"shape": [N, H, W, 3], "dtype": "uint8", "data": base64}}
              -> {"components": {name: [N floats]}, "reward": [N floats]}

``uint8`` images are the pixels of saved samples (HWC, 0..255); ``float32`` images are
``[N, 3, H, W]`` in [-1, 1] as the generator decodes them, scored as they are. Errors answer
``{"error": message}``: 400 for a malformed request, 401 for a missing or wrong token (header
``Authorization: Bearer <token>``, when the server has one), 500 when the reward raises. The
reward is built once and called under a lock (a GPU model is not thread-safe); waitress's
threads receive and decode the requests of concurrent clients meanwhile.
"""
import base64
import binascii
import hmac
import ipaddress
import itertools
import math
import threading
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import waitress
from flask import Flask, abort, jsonify, request
from mmengine.config import Config
from torch import Tensor
from werkzeug.exceptions import HTTPException

from argrpo.rewards import BaseReward, WeightedSum
from argrpo.utils import from_uint8

DTYPES = {'uint8': np.dtype('u1'), 'float32': np.dtype('<f4')}


def reward_config(cfg: Config) -> dict:
    """The REWARDS config of ``cfg``: its ``reward``, else its ``model.reward`` (a training
    config serves the reward it trains with)."""
    reward = cfg.get('reward') or (cfg.get('model') or {}).get('reward')
    if reward is None:
        raise KeyError(f'{cfg.filename} has neither `reward` nor `model.reward`: say which reward to serve')
    return reward


def decode_images(spec: Any) -> Tensor:
    """The ``images`` of a request -> ``[N, 3, H, W]`` float in [-1, 1]; ``ValueError`` saying
    what is wrong with a malformed one. uint8 pixels become ``v / 127.5 - 1`` (``from_uint8``), as
    argrpo reads saved samples (so images that ``argrpo.utils.quantize`` leaves unchanged arrive
    exactly)."""
    if not isinstance(spec, dict) or not {'shape', 'dtype', 'data'} <= spec.keys():
        raise ValueError('"images" must be an object with "shape", "dtype" and "data"')
    dtype, shape, data = spec['dtype'], spec['shape'], spec['data']
    if dtype not in DTYPES:
        raise ValueError(f'images.dtype must be "uint8" or "float32", got {dtype!r}')
    if not (isinstance(shape, list) and len(shape) == 4 and all(type(s) is int and s > 0 for s in shape)):
        raise ValueError(f'images.shape must be 4 positive integers, got {shape!r}')
    if (shape[3] if dtype == 'uint8' else shape[1]) != 3:
        raise ValueError(f'uint8 images are [N, H, W, 3] and float32 images [N, 3, H, W], got {dtype} {shape}')
    if not isinstance(data, str):
        raise ValueError('images.data must be a base64 string')
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as e:
        raise ValueError(f'images.data is not base64: {e}') from None
    expected = math.prod(shape) * DTYPES[dtype].itemsize
    if len(raw) != expected:
        raise ValueError(f'images.data holds {len(raw)} bytes, {dtype} {shape} needs {expected}')
    array = np.frombuffer(raw, DTYPES[dtype]).reshape(shape)
    if dtype == 'uint8':
        return from_uint8(array)
    return torch.from_numpy(array.astype(np.float32))


def read_request(body: Any) -> Tuple[Tensor, List[str]]:
    """The images and prompts of a ``/score`` body; ``ValueError`` saying what is wrong."""
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object {"prompts": [...], "images": {...}}')
    missing = [key for key in ('prompts', 'images') if key not in body]
    if missing:
        raise ValueError(f'the body has no {" and no ".join(missing)}')
    prompts = body['prompts']
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise ValueError('"prompts" must be a list of strings')
    images = decode_images(body['images'])
    if len(prompts) != len(images):
        raise ValueError(f'{len(prompts)} prompts for {len(images)} images')
    return images, prompts


def _device(reward: BaseReward) -> torch.device:
    tensor = next(itertools.chain(reward.parameters(), reward.buffers()), None)
    return tensor.device if tensor is not None else torch.device('cpu')


@torch.no_grad()
def _score(reward: BaseReward, images: Tensor, prompts: List[str],
           max_batch: Optional[int]) -> Tuple[Dict[str, Tensor], Tensor]:
    """The components of ``reward`` (in chunks of ``max_batch``) and their combination."""
    n, step, device = len(prompts), max_batch or len(prompts), _device(reward)
    parts = [reward.components(images[i:i + step].to(device), prompts[i:i + step]) for i in range(0, n, step)]
    components = {name: torch.cat([part[name].reshape(-1) for part in parts]).float() for name in parts[0]}
    combined = reward.combine(components).float()
    for name, value in itertools.chain(components.items(), [('the combined reward', combined)]):
        if value.shape != (n,):
            raise ValueError(f'{name} has shape {tuple(value.shape)} for {n} images, not [{n}]')
    return components, combined


def create_app(reward: BaseReward, token: Optional[str] = None, max_batch: Optional[int] = None) -> Flask:
    """A Flask app serving ``reward`` (built once, called under a lock) at ``/health`` and
    ``/score``; with ``token`` set, ``/score`` wants ``Authorization: Bearer <token>``;
    ``max_batch`` splits larger requests into calls of at most that many images."""
    if max_batch is not None and max_batch < 1:
        raise ValueError(f'max_batch must be >= 1, got {max_batch}')
    if max_batch is not None and not reward.per_sample:
        raise ValueError(f'{reward.name} compares the samples of a batch with each other (per_sample=False): '
                         'a request cannot be split, leave max_batch out')
    app = Flask(__name__)
    app.extensions['argrpo_reward'] = reward
    app.config['REWARD_TOKEN'] = token
    lock = threading.Lock()

    @app.errorhandler(HTTPException)
    def as_json(error: HTTPException):
        return jsonify(error=error.description), error.code

    @app.get('/health')
    def health():
        return jsonify(status='ok', reward=reward.name, type=type(reward).__name__)

    @app.post('/score')
    def score():
        if token is not None and not hmac.compare_digest(
                request.headers.get('Authorization', '').encode(), f'Bearer {token}'.encode()):
            abort(401, 'missing or wrong token: send the header "Authorization: Bearer <token>" '
                       'with the token the server was started with')
        try:
            images, prompts = read_request(request.get_json(force=True, silent=True))
        except ValueError as e:
            abort(400, str(e))
        try:
            with lock:
                components, combined = _score(reward, images, prompts, max_batch)
        except Exception as e:  # the reward's failure is the client's answer; the server goes on
            app.logger.exception('the reward failed')
            abort(500, f'{reward.name} ({type(reward).__name__}) failed: {type(e).__name__}: {e}')
        return jsonify(components={name: value.tolist() for name, value in components.items()},
                       reward=combined.tolist())

    return app


def _describe(reward: BaseReward) -> str:
    if isinstance(reward, WeightedSum):
        parts = ' + '.join(f'{weight:g} * {name}' for name, weight in reward.weights.items())
        return f'{reward.name} = {parts}'
    return f'{reward.name} ({type(reward).__name__})'


def _is_loopback(host: str) -> bool:
    try:
        return host == 'localhost' or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(app: Flask, host: str = '127.0.0.1', port: int = 8600, threads: int = 4) -> None:
    """Serve ``app`` with waitress (``threads`` workers) until the process is stopped, printing
    its URL and reward once it listens. Anywhere but the loopback without a token, whoever
    reaches the port uses the reward: a warning says so."""
    if not _is_loopback(host) and app.config['REWARD_TOKEN'] is None:
        warnings.warn(f'serving on {host} without a token: anyone who reaches port {port} can use the reward; '
                      'give the server a token (--token or ARGRPO_REWARD_TOKEN)', stacklevel=2)
    server = waitress.create_server(app, host=host, port=port, threads=threads)
    shown_host = f'[{host}]' if ':' in host else host
    print(f'reward server ready at http://{shown_host}:{server.effective_port}: '
          f'{_describe(app.extensions["argrpo_reward"])}', flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
