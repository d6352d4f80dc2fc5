"""The models that answer a VLM judge's questions: a vision-language model run in-process through
transformers (Qwen2.5-VL from a local directory), or an OpenAI-compatible chat-completions server
(``vllm serve``, SGLang) reached over HTTP.

Both take images as uint8 ``[H, W, 3]`` arrays, one per question text, and offer the same two
calls: ``generate`` (answers as text) and ``first_token_probs`` (the probability of each
candidate answer's first token at the answer's first position, read without generating).
"""
import base64
import io
import math
import os.path as osp
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence

import numpy as np
import requests
import torch
from torch import Tensor, nn

from argrpo.registry import VLM_BACKENDS
from argrpo.utils.http import DeadlineSession, retry_after, secret_refused, strict_json, token_from

DTYPES = ('float32', 'bfloat16', 'float16')


def _messages(image: dict, text: str) -> List[dict]:
    """One user turn: the image, then the question."""
    return [{'role': 'user', 'content': [image, {'type': 'text', 'text': text}]}]


@VLM_BACKENDS.register_module()
class TransformersVLM(nn.Module):
    """A transformers vision-language model (Qwen2.5-VL; any ``AutoModelForImageTextToText`` whose
    processor has a chat template) read from a local directory, never from a hub.

    Args:
        path: the directory ``save_pretrained`` wrote (config, weights, processor, chat template).
        dtype: 'bfloat16' (real judges), 'float32' or 'float16'; probabilities are computed in float32.
        device: where to put the model at once; None leaves it to whoever moves the reward.
        batch_size: questions per forward (``generate`` and ``first_token_probs``).

    Batches are left-padded, so that every row's last position is its answer's first. Sampling
    uses the full distribution at ``temperature``: the directory's top-k / top-p (Qwen's are
    near-greedy) are switched off; its other settings (end tokens, repetition penalty) apply.
    """

    how_to_get = ('On a machine with internet: huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct '
                  '--local-dir DIR (or Qwen2.5-VL-7B-Instruct), copy DIR here and point path= at it.')

    def __init__(self, path: str, dtype: str = 'bfloat16', device=None, batch_size: int = 8):
        super().__init__()
        if not path or not osp.isfile(osp.join(path, 'config.json')):
            raise FileNotFoundError(f'VLM judge: no config.json in {path!r}. {self.how_to_get}')
        if dtype not in DTYPES:
            raise ValueError(f'TransformersVLM dtype must be one of {DTYPES}, not {dtype!r}')
        try:
            import transformers
        except ImportError as error:
            raise ImportError('TransformersVLM needs transformers: pip install -r requirements/optional.txt') from error
        self.processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        self.processor.tokenizer.padding_side = 'left'
        self.model = transformers.AutoModelForImageTextToText.from_pretrained(
            path, local_files_only=True, dtype=getattr(torch, dtype))
        if device is not None:
            self.model.to(device)
        self.batch_size = batch_size

    def _inputs(self, images: Sequence[np.ndarray], texts: Sequence[str]):
        chats = [self.processor.apply_chat_template(_messages({'type': 'image'}, text), tokenize=False,
                                                    add_generation_prompt=True) for text in texts]
        inputs = self.processor(text=chats, images=list(images), padding=True, return_tensors='pt')
        return inputs.to(next(self.model.parameters()).device)

    def _batches(self, n: int) -> List[slice]:
        return [slice(i, i + self.batch_size) for i in range(0, n, self.batch_size)]

    @torch.no_grad()
    def generate(self, images: Sequence[np.ndarray], texts: Sequence[str], max_new_tokens: int = 64,
                 temperature: float = 1.0) -> List[str]:
        """The answers, sampled at ``temperature`` (greedy at 0), special tokens removed."""
        sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 \
            else dict(do_sample=False)
        tokenizer = self.processor.tokenizer
        answers = []
        for part in self._batches(len(texts)):
            inputs = self._inputs(images[part], texts[part])
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                      **sampling)
            answers += tokenizer.batch_decode(out[:, inputs['input_ids'].shape[1]:], skip_special_tokens=True)
        return answers

    def _first_token_ids(self, candidates: Sequence[str]) -> List[int]:
        tokenizer = self.processor.tokenizer
        ids = [tokenizer.encode(c, add_special_tokens=False)[:1] for c in candidates]
        if not all(ids):
            raise ValueError(f'a candidate answer of {list(candidates)} encodes to no token')
        first = [i[0] for i in ids]
        if len(set(first)) < len(first):
            raise ValueError(f'candidate answers {list(candidates)} share first tokens {first}: '
                             'their probabilities cannot be told apart')
        return first

    @torch.no_grad()
    def first_token_probs(self, images: Sequence[np.ndarray], texts: Sequence[str],
                          candidates: Sequence[str]) -> Tensor:
        """``[N, C]``: softmax over the whole vocabulary at the answer's first position, at the
        first token of each candidate."""
        ids = self._first_token_ids(candidates)
        probs = []
        for part in self._batches(len(texts)):
            logits = self.model(**self._inputs(images[part], texts[part]), logits_to_keep=1).logits[:, -1]
            probs.append(logits.float().softmax(-1)[:, ids].cpu())
        return torch.cat(probs)


class VLMServerError(RuntimeError):
    """The VLM server stayed unreachable, kept failing, or refused the request."""


class LogprobsUnavailable(VLMServerError):
    """The server answered without the logprobs that ``mode='logprob'`` reads."""


class _Malformed(Exception):
    """A reply without the fields an OpenAI chat completion has (retried like a server error)."""


class _NoLogprobs(Exception):
    """A completion without logprobs (not retried: the server does not return them)."""


LOGPROB_SERVERS = ('Of OpenAI-compatible servers, vLLM (`vllm serve`) and SGLang return them; `transformers serve` '
                   'and some hosted APIs drop the request\'s `logprobs` / `top_logprobs` without a word')


def _logprob(entry) -> float:
    """The checked ``logprob`` of one ``top_logprobs`` entry: a number in (-inf, 0]."""
    if not isinstance(entry, dict) or not isinstance(entry.get('token'), str):
        raise _Malformed(f'a top_logprobs entry is not {{"token": text, "logprob": number}}: {entry!r:.100}')
    value = entry.get('logprob')
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (-math.inf < value <= 0):
        raise _Malformed(f'logprob {value!r} of token {entry["token"]!r} is not a log-probability in (-inf, 0]')
    return float(value)


@VLM_BACKENDS.register_module()
class OpenAIVLM(nn.Module):
    """An OpenAI-compatible chat-completions server (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct``,
    SGLang, ``transformers serve`` for ``generate`` only, ...): one request per question, images
    as base64 PNG data URLs.

    Args:
        base_url: the API root, e.g. 'http://127.0.0.1:8000/v1' (``/chat/completions`` is added).
        model: the served model's name.
        api_key_env: the environment variable holding the server's API key (sent as a bearer
            token when set and non-empty); the key stays out of the config and its dumps.
        api_key: refused (``ValueError`` naming the variable to set): a key given here would be
            written wherever the config is. Kept as an argument so that the error says so.
        timeout: seconds one request may take in all, from connecting to the reply's last byte.
        deadline: seconds one question may take in all, retries and waits included.
        max_retries: further attempts after a connection error, a timeout, HTTP 5xx / 429 or a
            malformed reply, ``min(backoff * 2**k, max_backoff)`` seconds apart (longer when a
            429 / 503 asks for it with ``Retry-After`` and the deadline allows); other HTTP 4xx
            fail at once, and so does a reply without logprobs in ``first_token_probs``.
        concurrency: requests in flight together.

    ``first_token_probs`` asks for one token with ``top_logprobs=20``: a candidate's probability
    sums the listed tokens equal to it up to surrounding whitespace, and is 0 when none is listed.
    Every logprob must be a number in (-inf, 0]; a server that returns none (``transformers
    serve``) is a ``LogprobsUnavailable`` error naming the servers that do.
    """

    top_logprobs = 20

    def __init__(self, base_url: str, model: str, api_key=None, timeout: float = 60.0, max_retries: int = 3,
                 backoff: float = 1.0, concurrency: int = 8, api_key_env: Optional[str] = 'ARGRPO_VLM_API_KEY',
                 deadline: float = 300.0, max_backoff: float = 30.0):
        super().__init__()
        if type(max_retries) is not int or max_retries < 0:
            raise ValueError(f'max_retries must be an integer >= 0, got {max_retries!r}')
        if type(concurrency) is not int or concurrency < 1:
            raise ValueError(f'concurrency must be a positive integer, got {concurrency!r}')
        if not (timeout > 0 and deadline > 0 and backoff >= 0 and max_backoff >= 0):
            raise ValueError('timeout and deadline must be positive, backoff and max_backoff >= 0')
        if api_key is not None:
            raise secret_refused('OpenAIVLM', api_key_env)
        api_key = token_from(api_key_env)
        self.url = base_url.rstrip('/') + '/chat/completions'
        self.model_name = model
        self.headers = {'Authorization': f'Bearer {api_key}'} if api_key else {}
        self.timeout, self.deadline, self.max_retries = timeout, deadline, max_retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self.concurrency = concurrency
        self.session = DeadlineSession(pool_maxsize=concurrency)

    @staticmethod
    def _data_url(image: np.ndarray) -> str:
        from PIL import Image
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format='PNG')
        return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')

    def _request(self, image: np.ndarray, text: str, read: Callable[[dict], object], **options) -> object:
        """POST one question and ``read`` the reply's choice, retrying what may pass."""
        payload = dict(model=self.model_name, messages=_messages(
            {'type': 'image_url', 'image_url': {'url': self._data_url(image)}}, text), **options)
        attempts, start, asked = 1 + self.max_retries, time.monotonic(), None
        for attempt in range(attempts):
            if attempt:
                wait = max(min(self.backoff * 2 ** (attempt - 1), self.max_backoff), asked or 0.0)
                if time.monotonic() + wait - start >= self.deadline:
                    last += f'; the next attempt (in {wait:g} s) would pass the deadline of {self.deadline:g} s'
                    attempts = attempt
                    break
                time.sleep(wait)
            left, asked = self.deadline - (time.monotonic() - start), None
            try:
                reply = self.session.post(self.url, json=payload, headers=self.headers,
                                          total=min(self.timeout, left))
            except requests.RequestException as error:
                last = f'{type(error).__name__}: {error}'
                continue
            if reply.status_code >= 500 or reply.status_code == 429:
                if reply.status_code in (429, 503):
                    asked = retry_after(reply)
                last = f'HTTP {reply.status_code}: {reply.text[:300]}'
                continue
            if reply.status_code >= 400:
                raise VLMServerError(f'{self.url} refused the request (HTTP {reply.status_code}): {reply.text[:1000]}')
            try:
                return read(strict_json(reply.content)['choices'][0])
            except _NoLogprobs:
                raise LogprobsUnavailable(
                    f'{self.url} answered without logprobs (no choices[0].logprobs.content[0].top_logprobs in '
                    f'{reply.text[:200]!r}): mode=\'logprob\' reads the first token\'s top_logprobs. '
                    f'{LOGPROB_SERVERS}. Serve the judge with vLLM or SGLang, or set VLMJudge mode=\'generate\'') \
                    from None
            except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError, _Malformed) as error:
                last = f'malformed reply ({type(error).__name__}: {error}): {reply.text[:300]}'
        raise VLMServerError(f'{self.url}: no valid answer after {attempts} attempts; last: {last}. Is the '
                             f'server running and serving {self.model_name!r}?')

    def _map(self, call: Callable[[np.ndarray, str], object], images: Sequence[np.ndarray],
             texts: Sequence[str]) -> list:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(call, images, texts))

    def generate(self, images: Sequence[np.ndarray], texts: Sequence[str], max_new_tokens: int = 64,
                 temperature: float = 1.0) -> List[str]:
        """The answers, sampled by the server at ``temperature`` (greedy at 0)."""
        def read(choice: dict) -> str:
            content = choice['message']['content']
            if content is not None and not isinstance(content, str):
                raise _Malformed('message content is not text')
            return content or ''

        return self._map(lambda image, text: self._request(
            image, text, read, max_tokens=max_new_tokens, temperature=temperature), images, texts)

    def first_token_probs(self, images: Sequence[np.ndarray], texts: Sequence[str],
                          candidates: Sequence[str]) -> Tensor:
        """``[N, C]`` from the first token's ``top_logprobs``."""
        def read(choice: dict) -> List[float]:
            if not isinstance(choice, dict):
                raise _Malformed('a choice is not an object')
            logprobs = choice.get('logprobs')
            content = logprobs.get('content') if isinstance(logprobs, dict) else None
            if not content or not isinstance(content, list) or not isinstance(content[0], dict) \
                    or not content[0].get('top_logprobs'):
                raise _NoLogprobs
            top = content[0]['top_logprobs']
            if not isinstance(top, list):
                raise _Malformed('top_logprobs is not a list')
            listed = [(math.exp(_logprob(entry)), entry['token'].strip()) for entry in top]
            return [sum(p for p, token in listed if token == c) for c in candidates]

        rows = self._map(lambda image, text: self._request(
            image, text, read, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=self.top_logprobs),
            images, texts)
        return torch.tensor(rows, dtype=torch.float32).reshape(len(texts), len(candidates))
