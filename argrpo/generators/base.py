"""The interface of autoregressive image generators, and what it gives every one of them:
sampling with the generator's cache, and teacher-forced log-probs of given tokens, both under
the same decoding strategy.

A family (LlamaGen's GPT in gpt.py, or another) subclasses ``ARImageGenerator`` and implements its
abstract methods; nothing else in argrpo needs to know it. Sequence positions count the
``cls_token_num`` condition positions first, then the ``block_size`` image tokens.
"""
import contextlib
from abc import abstractmethod
from functools import partial
from typing import Any, NamedTuple, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from argrpo.samplers import TokenSampler
from .onednn import onednn_linears
from .static_decode import static_decoder

DECODE_PATHS = ('auto', 'dynamic', 'static', 'compiled')


class Rollout(NamedTuple):
    tokens: Tensor     # [B, L] image tokens
    log_probs: Tensor  # [B, L] log-prob of each token under the distribution it was drawn from


class ARImageGenerator(BaseModule):
    """An AR generator over ``block_size`` image tokens after ``cls_token_num`` condition
    positions. A subclass that leaves an abstract method out cannot be built.

    Conditions ``cond`` are what the family takes (class ids [B], caption features [B, T, C], ...);
    ``cond_mask`` [B, T] marks the real caption tokens, or is None.
    """

    block_size: int
    cls_token_num: int
    static_decode: bool = False  # whether the family implements ``decode_step_static``

    @abstractmethod
    def features(self, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor] = None) -> Tensor:
        """Teacher-forced hidden states [B, L, D] before the output head: position t predicts
        ``tokens[:, t]`` from the condition and ``tokens[:, :t]``."""

    @abstractmethod
    def head(self, hidden: Tensor) -> Tensor:
        """Hidden states [..., D] -> float32 logits [..., V]."""

    def forward(self, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor] = None) -> Tensor:
        """Teacher-forced logits [B, L, V] (``head`` of ``features``)."""
        return self.head(self.features(tokens, cond, cond_mask))

    @abstractmethod
    def new_caches(self, batch: int, max_len: int) -> Any:
        """Empty decoding state for ``batch`` sequences of up to ``max_len`` positions (LlamaGen:
        one KV cache per layer, in the weights' dtype and device)."""

    @abstractmethod
    def prefill(self, cond: Tensor, cond_mask: Optional[Tensor], caches: Any) -> Tensor:
        """Run the condition positions into ``caches``; logits [B, V] of the first image token."""

    @abstractmethod
    def decode_step(self, tokens: Tensor, pos: int, cond_mask: Optional[Tensor], caches: Any) -> Tensor:
        """Feed ``tokens`` [B] at sequence position ``pos``; logits [B, V] of the next token."""

    def decode_step_static(self, tokens: Tensor, pos: Tensor, cond_mask: Optional[Tensor], caches: Any) -> Tensor:
        """``decode_step`` at the position in the LongTensor ``pos`` [1], with every shape the same
        at every position (what torch.compile needs to capture it as one CUDA graph). Families
        that implement it set ``static_decode``."""
        raise NotImplementedError(f'{type(self).__name__} has no static decode step')

    @abstractmethod
    def check_condition(self, cond: Tensor) -> None:
        """Raise a ValueError naming what is wrong when ``cond`` is no condition of this model."""

    @abstractmethod
    def null_condition(self, cond: Tensor) -> Tensor:
        """The unconditional twin of each condition (classifier-free guidance)."""

    def _with_null(self, cond: Tensor, cond_mask: Optional[Tensor],
                   sampler: TokenSampler) -> Tuple[Tensor, Optional[Tensor]]:
        """Conditional rows first, then their unconditional twins (the same caption mask)."""
        self.check_condition(cond)
        if not sampler.uses_cfg:
            return cond, cond_mask
        both = torch.cat([cond, self.null_condition(cond)])
        return both, None if cond_mask is None else torch.cat([cond_mask, cond_mask])

    @torch.no_grad()
    def sample(self, cond: Tensor, sampler: TokenSampler, cond_mask: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None, num_tokens: Optional[int] = None,
               uniforms: Optional[Tensor] = None, decode: str = 'auto') -> Rollout:
        """Draw ``num_tokens`` (default ``block_size``) image tokens per condition, with random
        numbers from ``generator``, or from ``uniforms`` [B, num_tokens] (one row per sample makes
        each sample independent of the batch it is drawn in).

        ``decode`` picks the decode step; all give the same tokens up to rounding:
        'dynamic' (``decode_step``: attention reads the cache up to the position), 'static'
        (``decode_step_static``: fixed shapes, see static_decode.py), 'compiled' (that step under
        torch.compile, replayed as a CUDA graph on CUDA), 'auto' ('compiled' on CUDA where the
        family has a static step, else 'dynamic'). Uncompiled, on CPU in float32, the linear
        layers run through oneDNN (see onednn.py).
        """
        B, L, T = len(cond), num_tokens or self.block_size, self.cls_token_num
        path = self.decode_path(decode, cond.device)
        cond_all, mask_all = self._with_null(cond, cond_mask, sampler)
        N, max_len = len(cond_all), T + L - 1
        caches, step = ((self.new_caches(N, max_len), self.decode_step) if path == 'dynamic'
                        else static_decoder(self, N, max_len, compiled=path == 'compiled'))
        tokens = torch.empty(B, L, dtype=torch.long, device=cond.device)
        log_probs = torch.empty(B, L, device=cond.device)
        with onednn_linears(self, N) if path != 'compiled' else contextlib.nullcontext():
            logits = self.prefill(cond_all, mask_all, caches)
            for t in range(L):
                if t > 0:
                    logits = step(tokens[:, t - 1].repeat(N // B), T + t - 1, mask_all, caches)
                lp = sampler.log_probs(logits[:B], logits[B:] if sampler.uses_cfg else None,
                                       sampler.guided(t))
                tokens[:, t] = sampler.draw(lp, generator, None if uniforms is None else uniforms[:, t])
                log_probs[:, t] = lp.gather(1, tokens[:, t, None])[:, 0]
        return Rollout(tokens, log_probs)

    def decode_path(self, decode: str, device: torch.device) -> str:
        """``sample``'s ``decode`` with 'auto' resolved; an error where the family cannot serve it."""
        if decode not in DECODE_PATHS:
            raise ValueError(f'decode must be one of {DECODE_PATHS}, got {decode!r}')
        if decode == 'auto':
            return 'compiled' if device.type == 'cuda' and self.static_decode else 'dynamic'
        if decode != 'dynamic' and not self.static_decode:
            raise ValueError(f"{type(self).__name__} has no static decode step: decode={decode!r} "
                             "needs one, use 'dynamic'")
        return decode

    def log_prob(self, tokens: Tensor, cond: Tensor, sampler: TokenSampler, cond_mask: Optional[Tensor] = None,
                 entropy: Optional[str] = None, chunk: Optional[int] = None):
        """Teacher-forced log-probs [B, L] of ``tokens`` under ``sampler``'s distribution (CFG
        mixing included when it guides; top-k / top-p keep the scored token, so it is finite).
        Differentiable.

        Args:
            entropy: also return the entropy [B, L] of that distribution: 'detached' (a statistic,
                no graph) or 'differentiable' (for an entropy bonus); None: not computed.
            chunk: run the head and the sampler's distribution ``chunk`` positions at a time, each
                chunk recomputed in backward when there is one (activation checkpointing), so that
                no [rows, L, V] float32 logits live for the whole sequence; None: all at once.
        """
        if entropy not in (None, 'detached', 'differentiable'):
            raise ValueError(f"entropy is None, 'detached' or 'differentiable', got {entropy!r}")
        B, L = tokens.shape
        cond_all, mask_all = self._with_null(cond, cond_mask, sampler)
        hidden = self.features(tokens.repeat(len(cond_all) // B, 1), cond_all, mask_all)

        def score(h: Tensor, tok: Tensor, positions: Tensor) -> Tuple[Tensor, ...]:
            logits = self.head(h)
            lp = sampler.log_probs(logits[:B], logits[B:] if sampler.uses_cfg else None,
                                   sampler.guided(positions), keep=tok)
            token_lp = lp.gather(-1, tok[..., None])[..., 0]
            if entropy is None:
                return (token_lp, )
            with torch.set_grad_enabled(entropy == 'differentiable' and torch.is_grad_enabled()):
                return token_lp, -(lp.exp() * lp.masked_fill(torch.isinf(lp), 0)).sum(-1)

        positions = torch.arange(L, device=tokens.device)
        run = (partial(checkpoint, score, use_reentrant=False) if chunk and chunk < L and torch.is_grad_enabled()
               else score)
        step = chunk or L
        parts = [run(hidden[:, s:s + step], tokens[:, s:s + step], positions[s:s + step]) for s in range(0, L, step)]
        out = [torch.cat(values, 1) for values in zip(*parts)]
        return out[0] if entropy is None else tuple(out)
