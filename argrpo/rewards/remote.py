"""A reward computed by a reward server (``tools/reward_server.py``) in another process or
environment: heavy or conflicting reward models (a VLM judge, HPSv2 and MANIQA on another GPU)
stay out of the training process. The wire format is ``argrpo.services.reward_server``'s."""
import base64
import time
from typing import Dict, Optional, Sequence
from urllib.parse import urlsplit

import numpy as np
import requests
import torch
from torch import Tensor

from argrpo.registry import REWARDS
from argrpo.utils import to_uint8
from .base import BaseReward


@REWARDS.register_module()
class RemoteReward(BaseReward):
    """The served reward's components, plus its combined value under ``name``; ``combine`` is
    that value, so inside a ``WeightedSum`` the served reward counts once and each of its
    components is logged.

    Args:
        url: the server, e.g. 'http://127.0.0.1:8600'.
        token: the server's token (sent as ``Authorization: Bearer <token>``), if it has one.
        timeout: seconds to wait for an answer (a heavy reward on a large batch takes a while).
        max_retries, backoff: a refused connection, a timeout or a 5xx answer is tried again up
            to ``max_retries`` times, after ``backoff * 2 ** i`` seconds; then a RuntimeError.
            A 4xx answer fails at once with the server's message.
        encoding: 'uint8' sends what a saved image holds (4x smaller: the reward sees
            ``argrpo.utils.quantize(images)``); 'float32' sends the exact floats.
        per_sample: the served reward's ``per_sample``: False (a reward that compares the
            samples of a batch) keeps ``ARGRPOModel`` from scoring a batch in chunks.
    """

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 600.0, max_retries: int = 3,
                 backoff: float = 1.0, encoding: str = 'uint8', per_sample: bool = True, name: str = 'remote'):
        super().__init__(name)
        parts = urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError(f'url is the reward server\'s address, e.g. http://127.0.0.1:8600; got {url!r}')
        if encoding not in ('uint8', 'float32'):
            raise ValueError(f"encoding is 'uint8' or 'float32', got {encoding!r}")
        if max_retries < 0:
            raise ValueError(f'max_retries must be >= 0, got {max_retries}')
        self.url = url.rstrip('/')
        self.port = parts.port or (443 if parts.scheme == 'https' else 80)
        self.timeout, self.max_retries, self.backoff, self.encoding = timeout, max_retries, backoff, encoding
        self.per_sample = per_sample
        self.session = requests.Session()
        if token is not None:
            self.session.headers['Authorization'] = f'Bearer {token}'
        self.freeze()

    def _images(self, images: Tensor) -> dict:
        if self.encoding == 'uint8':
            array = to_uint8(images)
        else:
            array = np.asarray(images.detach().float().cpu().numpy(), dtype='<f4')
        return dict(shape=list(array.shape), dtype=self.encoding,
                    data=base64.b64encode(array.tobytes()).decode('ascii'))

    def _post(self, body: dict) -> dict:
        """The server's reply to ``body``; refused connections, timeouts and 5xx answers are retried."""
        url = f'{self.url}/score'
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                answer = self.session.post(url, json=body, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                failure = (f'no answer ({type(e).__name__}); is it running? Start it with '
                           f'`python tools/reward_server.py CONFIG --port {self.port}`')
                continue
            if answer.status_code < 400:
                return _reply(answer, self.url)
            message = _error_message(answer)
            if answer.status_code < 500:
                raise RuntimeError(f'the reward server at {self.url} refused the request '
                                   f'({answer.status_code}): {message}')
            failure = f'it failed ({answer.status_code}): {message}'
        raise RuntimeError(f'the reward server at {self.url} did not score the batch in '
                           f'{self.max_retries + 1} tries: {failure}')

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        answer = self._post(dict(prompts=list(prompts), images=self._images(images)))
        served = dict(answer['components'])
        if self.name in served:
            raise ValueError(f'the served reward has a component named {self.name!r}: give RemoteReward '
                             'another name=')
        served[self.name] = answer['reward']
        out = {key: torch.tensor(value, dtype=torch.float32, device=images.device) for key, value in served.items()}
        wrong = {key: tuple(value.shape) for key, value in out.items() if value.shape != (len(prompts),)}
        if wrong:
            raise RuntimeError(f'the reward server at {self.url} answered shapes {wrong} for {len(prompts)} images')
        return out


def _reply(answer: requests.Response, url: str) -> dict:
    try:
        reply = answer.json()
        if isinstance(reply['components'], dict) and isinstance(reply['reward'], list):
            return reply
    except (ValueError, KeyError, TypeError):
        pass
    raise RuntimeError(f'{url} answered {answer.status_code} without a reward server\'s reply: {answer.text[:200]!r}')


def _error_message(answer: requests.Response) -> str:
    try:
        return answer.json()['error']
    except (ValueError, KeyError, TypeError):
        return answer.text[:500]
