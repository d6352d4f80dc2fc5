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
from typing import Callable, List, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from argrpo.registry import VLM_BACKENDS

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


class _Malformed(Exception):
    """A reply without the fields an OpenAI chat completion has (retried like a server error)."""


@VLM_BACKENDS.register_module()
class OpenAIVLM(nn.Module):
    """An OpenAI-compatible chat-completions server (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct``,
    SGLang, ...): one request per question, images as base64 PNG data URLs.

    Args:
        base_url: the API root, e.g. 'http://127.0.0.1:8000/v1' (``/chat/completions`` is added).
        model: the served model's name.
        api_key: sent as a bearer token when given.
        timeout: seconds per request.
        max_retries: further attempts after a connection error, a timeout, HTTP 5xx / 429 or a
            malformed reply, ``backoff * 2**k`` seconds apart; other HTTP 4xx fail at once.
        concurrency: requests in flight together.

    ``first_token_probs`` asks for one token with ``top_logprobs=20``: a candidate's probability
    sums the listed tokens equal to it up to surrounding whitespace, and is 0 when none is listed.
    """

    top_logprobs = 20

    def __init__(self, base_url: str, model: str, api_key=None, timeout: float = 60.0, max_retries: int = 3,
                 backoff: float = 1.0, concurrency: int = 8):
        super().__init__()
        self.url = base_url.rstrip('/') + '/chat/completions'
        self.model_name = model
        self.headers = {'Authorization': f'Bearer {api_key}'} if api_key else {}
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.concurrency = concurrency

    @staticmethod
    def _data_url(image: np.ndarray) -> str:
        from PIL import Image
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format='PNG')
        return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')

    def _request(self, image: np.ndarray, text: str, read: Callable[[dict], object], **options) -> object:
        """POST one question and ``read`` the reply's choice, retrying what may pass."""
        import requests
        payload = dict(model=self.model_name, messages=_messages(
            {'type': 'image_url', 'image_url': {'url': self._data_url(image)}}, text), **options)
        attempts = 1 + self.max_retries
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                reply = requests.post(self.url, json=payload, headers=self.headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as error:
                last = f'{type(error).__name__}: {error}'
                continue
            if reply.status_code >= 500 or reply.status_code == 429:
                last = f'HTTP {reply.status_code}: {reply.text[:300]}'
                continue
            if reply.status_code >= 400:
                raise VLMServerError(f'{self.url} refused the request (HTTP {reply.status_code}): {reply.text[:1000]}')
            try:
                return read(reply.json()['choices'][0])
            except (ValueError, KeyError, IndexError, TypeError, _Malformed) as error:
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
            top = choice['logprobs']['content'][0]['top_logprobs']
            return [sum(math.exp(float(entry['logprob'])) for entry in top if entry['token'].strip() == c)
                    for c in candidates]

        rows = self._map(lambda image, text: self._request(
            image, text, read, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=self.top_logprobs),
            images, texts)
        return torch.tensor(rows, dtype=torch.float32).reshape(len(texts), len(candidates))
