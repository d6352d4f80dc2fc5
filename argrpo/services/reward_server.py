"""A reward as an HTTP service, so that heavy or conflicting reward models (a VLM judge, HPSv2 and
MANIQA on another GPU) run in their own process or environment; ``RemoteReward`` is the client.

The wire format is JSON with the images as base64 of their raw little-endian bytes (no pickle):

    GET  /health -> {"status": "ok", "reward": name, "type": class name}
    POST /score  {"prompts": [N strings],
                  "images": {"shape": [N, H, W, 3], "dtype": "uint8", "data": base64}}
              -> {"components": {name: [N floats]}, "reward": [N floats]}

``uint8`` images are the pixels of saved samples (HWC, 0..255); ``float32`` images are
``[N, 3, H, W]`` in [-1, 1] as the generator decodes them, scored as they are. Errors answer
``{"error": message}``: 400 for a malformed request (not JSON, nested too deep, a field of the
wrong type or size, NaN or inf among float32 pixels), 401 for a missing or wrong token (header
``Authorization: Bearer <token>``, when the server has one), 413 for a request over the server's
limits (``max_body`` bytes of body; ``max_pixels`` images x height x width), 500 when the reward
raises or scores NaN / inf. Every answer is valid JSON (no bare NaN), waitress's own refusals
included. The reward is built once and called under a lock (a GPU model is not thread-safe);
waitress's threads receive and decode the requests of concurrent clients meanwhile.

The body limit, without ever holding an oversize body in memory: waitress receives a whole request
before the app sees it, keeping a body of more than ``inbuf_overflow`` bytes (512 KiB) in a
temporary file (``tempfile.TemporaryFile``: ``$TMPDIR``, else ``/tmp``), not in memory; it refuses
unread a body of ``max_body + WAITRESS_SLACK`` bytes or more (from ``Content-Length``, or as a
chunked body grows). The app refuses a body over ``max_body`` bytes from its ``Content-Length``
before reading any of it, and reads at most ``max_body + 1`` bytes of a body without one.
"""
import base64
import binascii
import hmac
import ipaddress
import itertools
import json
import math
import threading
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import waitress
from flask import Flask, abort, jsonify, request
from flask.json.provider import DefaultJSONProvider
from mmengine.config import Config
from torch import Tensor
from waitress.task import ErrorTask
from werkzeug.exceptions import HTTPException

from argrpo.rewards import BaseReward, WeightedSum
from argrpo.utils import from_uint8
from argrpo.utils.http import check_token, strict_json

DTYPES = {'uint8': np.dtype('u1'), 'float32': np.dtype('<f4')}
MiB = 2 ** 20
MAX_BODY = 256 * MiB  # bytes of one request's body: a batch of ~1000 uint8 images of 256 x 256
MAX_PIXELS = 2 ** 26  # images x height x width of one request: 1024 images of 256 x 256, 256 of 512 x 512
WAITRESS_SLACK = MiB  # waitress reads (to a temporary file) this much past the app's limit, so that the app answers


class TooLarge(ValueError):
    """A request over the server's limits (413)."""


def reward_config(cfg: Config) -> dict:
    """The REWARDS config of ``cfg``: its ``reward``, else its ``model.reward`` (a training
    config serves the reward it trains with)."""
    reward = cfg.get('reward') or (cfg.get('model') or {}).get('reward')
    if reward is None:
        raise KeyError(f'{cfg.filename} has neither `reward` nor `model.reward`: say which reward to serve')
    return reward


def too_large(max_body: int, size: Optional[int] = None) -> str:
    """What a 413 for the body says: the limit, and what to do."""
    body = 'the body' if size is None else f'the body of {size} bytes'
    return f'{body} is over this server\'s limit of {max_body} bytes (its --max-body-mb): send smaller batches'


def read_body(max_body: int) -> bytes:
    """The body of the current request, refused (413) when over ``max_body`` bytes: from its
    ``Content-Length`` before any of it is read; without one (a chunked body a server passes on
    as it comes), after at most ``max_body + 1`` bytes are read."""
    size = request.content_length
    if size is not None and size > max_body:
        abort(413, too_large(max_body, size))
    stream, parts, got = request.stream, [], 0
    while got <= max_body:
        part = stream.read(max_body + 1 - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    if got > max_body:
        abort(413, too_large(max_body))
    return parts[0] if len(parts) == 1 else b''.join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


def decode_images(spec: Any, max_pixels: Optional[int] = None) -> Tensor:
    """The ``images`` of a request -> ``[N, 3, H, W]`` float in [-1, 1]; ``ValueError`` saying
    what is wrong with a malformed one (``TooLarge`` beyond ``max_pixels``, images x height x
    width, checked before any pixel is decoded). uint8 pixels become ``v / 127.5 - 1``
    (``from_uint8``), as argrpo reads saved samples (so images that ``argrpo.utils.quantize``
    leaves unchanged arrive exactly); float32 pixels must be finite."""
    if not isinstance(spec, dict) or not {'shape', 'dtype', 'data'} <= spec.keys():
        raise ValueError('"images" must be an object with "shape", "dtype" and "data"')
    dtype, shape, data = spec['dtype'], spec['shape'], spec['data']
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f'images.dtype must be "uint8" or "float32", got {_short(dtype)}')
    if not (isinstance(shape, list) and len(shape) == 4 and all(type(s) is int and s > 0 for s in shape)):
        raise ValueError(f'images.shape must be 4 positive integers, got {_short(shape)}')
    if (shape[3] if dtype == 'uint8' else shape[1]) != 3:
        raise ValueError(f'uint8 images are [N, H, W, 3] and float32 images [N, 3, H, W], got {dtype} {shape}')
    n, (h, w) = shape[0], (shape[1:3] if dtype == 'uint8' else shape[2:])
    if max_pixels is not None and n * h * w > max_pixels:
        raise TooLarge(f'{n} images of {h} x {w} are {n * h * w} pixels; this server takes at most {max_pixels} '
                       'pixels (images x height x width) per request (its --max-pixels): send smaller batches')
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
    del raw
    if dtype == 'uint8':
        return from_uint8(array)
    images = torch.from_numpy(array.astype(np.float32))
    finite = torch.isfinite(images)
    if not finite.all():
        raise ValueError(f'images hold {int((~finite).sum())} non-finite values (NaN or inf): '
                         'float32 images are in [-1, 1]')
    return images


def read_request(body: Any, max_pixels: Optional[int] = None) -> Tuple[Tensor, List[str]]:
    """The images and prompts of a ``/score`` body; ``ValueError`` saying what is wrong
    (``TooLarge`` beyond ``max_pixels``)."""
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object {"prompts": [...], "images": {...}}')
    missing = [key for key in ('prompts', 'images') if key not in body]
    if missing:
        raise ValueError(f'the body has no {" and no ".join(missing)}')
    prompts = body['prompts']
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise ValueError('"prompts" must be a list of strings')
    images = decode_images(body['images'], max_pixels)
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
        bad = (~torch.isfinite(value)).nonzero().flatten().tolist()
        if bad:
            raise ValueError(f'{name} is NaN or inf for images {bad[:10]}{" ..." if len(bad) > 10 else ""} of {n}')
    return components, combined


class _StrictJSON(DefaultJSONProvider):
    """Flask's JSON, refusing NaN and inf (``json.dumps`` writes them as bare NaN: not JSON)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault('allow_nan', False)
        return super().dumps(obj, **kwargs)


def create_app(reward: BaseReward, token: Optional[str] = None, max_batch: Optional[int] = None,
               max_body: int = MAX_BODY, max_pixels: int = MAX_PIXELS) -> Flask:
    """A Flask app serving ``reward`` (built once, called under a lock) at ``/health`` and
    ``/score``; with ``token`` set (non-empty printable ASCII without spaces), ``/score`` wants
    ``Authorization: Bearer <token>``; ``max_batch`` splits larger requests into calls of at
    most that many images; ``max_body`` (bytes) and ``max_pixels`` (images x height x width)
    bound one request (413 beyond them, the limit named; ``serve`` and ``BackgroundServer`` have
    waitress refuse bodies of ``max_body + WAITRESS_SLACK`` bytes or more unread)."""
    if token is not None:
        check_token(token, 'the reward server\'s token')
    for what, value in (('max_batch', max_batch), ('max_body', max_body), ('max_pixels', max_pixels)):
        if value is not None and (type(value) is not int or value < 1):
            raise ValueError(f'{what} must be a positive integer, got {value!r}')
    if max_batch is not None and not reward.per_sample:
        raise ValueError(f'{reward.name} compares the samples of a batch with each other (per_sample=False): '
                         'a request cannot be split, leave max_batch out')
    app = Flask(__name__)
    app.json = _StrictJSON(app)
    app.extensions['argrpo_reward'] = reward
    app.config.update(REWARD_TOKEN=token, REWARD_MAX_BODY=max_body, REWARD_MAX_PIXELS=max_pixels)
    limits = dict(max_body=max_body, max_pixels=max_pixels, max_batch=max_batch)
    lock = threading.Lock()

    @app.errorhandler(HTTPException)
    def as_json(error: HTTPException):
        return jsonify(error=error.description), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):  # whatever escapes is still a JSON answer
        app.logger.exception('unexpected error')
        return jsonify(error=f'internal error: {type(error).__name__}'), 500

    @app.get('/health')
    def health():
        return jsonify(status='ok', reward=reward.name, type=type(reward).__name__, limits=limits)

    @app.post('/score')
    def score():
        if token is not None and not hmac.compare_digest(
                request.headers.get('Authorization', '').encode(), f'Bearer {token}'.encode()):
            abort(401, 'missing or wrong token: send the header "Authorization: Bearer <token>" '
                       'with the token the server was started with')
        data = read_body(max_body)
        try:
            body = strict_json(data)
        except (ValueError, UnicodeDecodeError) as e:
            abort(400, f'the body must be a JSON object {{"prompts": [...], "images": {{...}}}}: {e}')
        try:
            images, prompts = read_request(body, max_pixels)
        except TooLarge as e:
            abort(413, str(e))
        except ValueError as e:
            abort(400, str(e))
        finally:
            del body, data
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


def _json_errors(max_body: int):
    """waitress's error task (its own 400, 413, 431, 500, 501: plain text) answering
    ``{"error": message}``; a 413 names the app's limit ``max_body``."""
    class JSONErrorTask(ErrorTask):
        def execute(self):
            error = self.request.error
            message = too_large(max_body) if error.code == 413 else f'{error.reason}: {error.body}'
            body = json.dumps({'error': message}).encode()
            self.status = f'{error.code} {error.reason}'
            self.response_headers.append(('Content-Type', 'application/json'))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    return JSONErrorTask


def _waitress_server(app: Flask, host: str, port: int, threads: int, **adjustments):
    """waitress's server for ``app``: it refuses (413, before reading it) a body of the app's
    ``max_body`` plus ``WAITRESS_SLACK`` bytes or more (the app answers those over ``max_body``),
    and its own errors are JSON too."""
    max_body = app.config.get('REWARD_MAX_BODY') or MAX_BODY
    adjustments.setdefault('max_request_body_size', max_body + WAITRESS_SLACK)
    server = waitress.create_server(app, host=host, port=port, threads=threads, **adjustments)
    listeners = [server] if hasattr(server, 'channel_class') else \
        [s for s in server.map.values() if hasattr(s, 'channel_class')]  # one per address (MultiSocketServer)
    for listener in listeners:
        listener.channel_class = type('JSONChannel', (listener.channel_class,),
                                      {'error_task_class': _json_errors(max_body)})
    return server


def serve(app: Flask, host: str = '127.0.0.1', port: int = 8600, threads: int = 4,
          allow_no_token: bool = False, **adjustments) -> None:
    """Serve ``app`` with waitress (``threads`` workers) until the process is stopped, printing
    its URL and reward once it listens. Anywhere but the loopback without a token, whoever
    reaches the port uses the reward: refused (``ValueError``) unless ``allow_no_token``, and
    then a warning says so. ``adjustments``: more of waitress's settings."""
    if not 0 <= port <= 65535:
        raise ValueError(f'port must be in 1-65535 (0: any free port), got {port}')
    if not _is_loopback(host) and app.config['REWARD_TOKEN'] is None:
        if not allow_no_token:
            raise ValueError(f'refusing to serve on {host} without a token: anyone who reaches port {port} could '
                             'use the reward (and the GPU behind it). Set $ARGRPO_REWARD_TOKEN (or --token-file), '
                             'or pass --allow-no-token if the network is yours alone')
        warnings.warn(f'serving on {host} without a token: anyone who reaches port {port} can use the reward',
                      stacklevel=2)
    server = _waitress_server(app, host, port, threads, **adjustments)
    shown_host = f'[{host}]' if ':' in host else host
    print(f'reward server ready at http://{shown_host}:{server.effective_port}: '
          f'{_describe(app.extensions["argrpo_reward"])}', flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


class BackgroundServer:
    """``app`` served by waitress in a thread of this process, on the loopback (tests,
    benchmarks)::

        with BackgroundServer(create_app(reward)) as server:
            RemoteReward(server.url)(images, prompts)

    Leaving (or ``stop()``) ends waitress's loop and closes its sockets and workers in the loop's
    own thread: nothing keeps servicing a closed socket (``OSError: [Errno 9] Bad file
    descriptor`` at exit)."""

    def __init__(self, app: Flask, host: str = '127.0.0.1', port: int = 0, threads: int = 4, **adjustments):
        self.server = _waitress_server(app, host, port, threads, **adjustments)
        self.url = f'http://{host}:{self.server.effective_port}'
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f'waitress {self.url}', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        server, adj = self.server, self.server.adj
        try:
            while not self._stopping.is_set():
                server.asyncore.loop(timeout=adj.asyncore_loop_timeout, map=server._map,
                                     use_poll=adj.asyncore_use_poll, count=1)
        finally:
            server.task_dispatcher.shutdown(timeout=30)
            server.asyncore.close_all(server._map)

    def stop(self, timeout: float = 60.0) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self.server.pull_trigger()
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f'the server at {self.url} did not stop in {timeout} s')

    def __enter__(self) -> 'BackgroundServer':
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
