"""A reward computed by a reward server (``tools/reward_server.py``) in another process or
environment: heavy or conflicting reward models (a VLM judge, HPSv2 and MANIQA on another GPU)
stay out of the training process. The wire format is ``argrpo.services.reward_server``'s."""
import base64
import logging
import time
from typing import Dict, Optional, Sequence
from urllib.parse import urlsplit

import numpy as np
import requests
import torch
from mmengine.logging import print_log
from torch import Tensor

from argrpo.registry import REWARDS
from argrpo.utils import to_uint8
from argrpo.utils.http import (DeadlineExceeded, DeadlineSession, is_finite_number, retry_after, secret_refused,
                               strict_json, token_from)
from .base import BaseReward

TOKEN_ENV = 'ARGRPO_REWARD_TOKEN'


@REWARDS.register_module()
class RemoteReward(BaseReward):
    """The served reward's components, plus its combined value under ``name``; ``combine`` is
    that value, so inside a ``WeightedSum`` the served reward counts once and each of its
    components is logged.

    Args:
        url: the server, e.g. 'http://127.0.0.1:8600'.
        token_env: the environment variable that holds the server's token (sent as
            ``Authorization: Bearer <token>``), if it has one; unset or empty: no token. The
            token stays out of the config, and so out of the work dir's config dump, the log and
            every checkpoint's meta.
        token: refused (``ValueError`` naming the variable to set): a token given here would be
            written wherever the config is. Kept as an argument so that the error says so.
        timeout: seconds one attempt may take in all, from connecting to the last byte of the
            reply (not per read: a server that trickles its reply is cut off too).
        deadline: seconds one call (one batch) may take in all, retries and waits included.
        max_retries, backoff, max_backoff: a refused or broken connection, a timeout, a 5xx or
            a 429 answer is tried again up to ``max_retries`` times, after
            ``min(backoff * 2 ** i, max_backoff)`` seconds, or longer when a 429 / 503 asks for it
            (``Retry-After``) and the deadline allows; then a RuntimeError. With the defaults a
            server restarted within about a minute (1 + 2 + 4 + 8 + 16 + 30 s) is not missed.
            Another 4xx answer, or a reply that is not a reward server's (numbers missing, NaN /
            inf, the wrong count), fails at once with the URL and what is wrong.
        encoding: 'uint8' sends what a saved image holds (4x smaller: the reward sees
            ``argrpo.utils.quantize(images)``); 'float32' sends the exact floats.
        per_sample: the served reward's ``per_sample``: False (a reward that compares the
            samples of a batch) keeps ``ARGRPOModel`` from scoring a batch in chunks.
    """

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 600.0, max_retries: int = 6,
                 backoff: float = 1.0, encoding: str = 'uint8', per_sample: bool = True, name: str = 'remote',
                 token_env: Optional[str] = TOKEN_ENV, deadline: float = 900.0, max_backoff: float = 30.0):
        super().__init__(name)
        parts = urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError(f'url is the reward server\'s address, e.g. http://127.0.0.1:8600; got {url!r}')
        if encoding not in ('uint8', 'float32'):
            raise ValueError(f"encoding is 'uint8' or 'float32', got {encoding!r}")
        if type(max_retries) is not int or max_retries < 0:
            raise ValueError(f'max_retries must be an integer >= 0, got {max_retries!r}')
        for what, value in (('timeout', timeout), ('deadline', deadline)):
            if not value > 0:
                raise ValueError(f'{what} must be a positive number of seconds, got {value!r}')
        if not (backoff >= 0 and max_backoff >= 0):
            raise ValueError(f'backoff and max_backoff must be >= 0, got {backoff!r} and {max_backoff!r}')
        if token is not None:
            raise secret_refused('RemoteReward', token_env)
        token = token_from(token_env)
        self.url = url.rstrip('/')
        self.port = parts.port or (443 if parts.scheme == 'https' else 80)
        self.timeout, self.deadline, self.max_retries = timeout, deadline, max_retries
        self.backoff, self.max_backoff, self.encoding = backoff, max_backoff, encoding
        self.per_sample = per_sample
        self.session = DeadlineSession()
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

    def _post(self, body: dict, n: int) -> dict:
        """The server's reply to ``body`` (``n`` images), checked; what may pass is retried."""
        url, start, tries = f'{self.url}/score', time.monotonic(), 0
        for attempt in range(self.max_retries + 1):
            if attempt:
                wait = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
                if asked is not None:
                    wait = max(wait, asked)
                if time.monotonic() + wait - start >= self.deadline:
                    failure += f'; the next try (in {wait:g} s) would pass the deadline of {self.deadline:g} s'
                    break
                print_log(f'the reward server at {self.url}: {failure}; trying again in {wait:g} s '
                          f'(try {attempt + 1} of {self.max_retries + 1})', logger='current', level=logging.WARNING)
                time.sleep(wait)
            left, asked, tries = self.deadline - (time.monotonic() - start), None, tries + 1
            try:
                answer = self.session.post(url, json=body, total=min(self.timeout, left))
            except DeadlineExceeded:
                failure = (f'no complete answer in {min(self.timeout, left):g} s (timeout={self.timeout:g}, '
                           f'deadline={self.deadline:g}: raise them if the reward is that slow for {n} images)')
                continue
            except requests.RequestException as e:
                failure = (f'no answer ({type(e).__name__}); is it running? Start it with '
                           f'`python tools/reward_server.py CONFIG --port {self.port}`')
                continue
            if answer.status_code < 400:
                return self._reply(answer, n)
            message = _error_message(answer)
            if answer.status_code == 413:
                raise RuntimeError(f'the reward server at {self.url} refused a batch of {n} images as too large '
                                   f'(413): {message}. Send smaller batches (a smaller rollout chunk) or raise the '
                                   'server\'s --max-body-mb / --max-pixels')
            if answer.status_code < 500 and answer.status_code != 429:
                raise RuntimeError(f'the reward server at {self.url} refused the request '
                                   f'({answer.status_code}): {message}')
            if answer.status_code in (429, 503):
                asked = retry_after(answer)
            failure = f'it failed ({answer.status_code}): {message}'
        raise RuntimeError(f'the reward server at {self.url} did not score the batch in '
                           f'{tries} tries: {failure}')

    def _reply(self, answer: requests.Response, n: int) -> dict:
        """The checked reply: components and reward, each ``n`` finite numbers."""
        def malformed(what: str) -> RuntimeError:
            return RuntimeError(f'the reward server at {self.url} answered {answer.status_code} with a malformed '
                                f'reply ({what}): {answer.text[:200]!r}')

        try:
            reply = strict_json(answer.content)
        except (ValueError, UnicodeDecodeError) as e:
            raise malformed(f'not JSON: {e}') from None
        if not isinstance(reply, dict) or not isinstance(reply.get('components'), dict) or 'reward' not in reply:
            raise malformed('not an object with "components" and "reward"')
        values = dict(reply['components'])
        if self.name in values:
            raise ValueError(f'the served reward has a component named {self.name!r}: give RemoteReward '
                             'another name=')
        values[self.name] = reply['reward']
        for key, value in values.items():
            where = 'reward' if key == self.name else f'components[{key!r}]'
            if not isinstance(value, list) or len(value) != n:
                got = f'{len(value)} values' if isinstance(value, list) else type(value).__name__
                raise RuntimeError(f'the reward server at {self.url} answered {where} with {got} for {n} images')
            bad = [i for i, v in enumerate(value) if not is_finite_number(v)]
            if bad:
                raise malformed(f'{where}[{bad[0]}] is {value[bad[0]]!r}, not a finite number')
        return values

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        n = len(prompts)
        served = self._post(dict(prompts=list(prompts), images=self._images(images)), n)
        return {key: torch.tensor(value, dtype=torch.float32, device=images.device) for key, value in served.items()}


def _error_message(answer: requests.Response) -> str:
    try:
        return str(strict_json(answer.content)['error'])[:1000]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return answer.text[:500]
