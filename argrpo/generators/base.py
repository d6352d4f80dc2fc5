"""The interface of autoregressive image generators, and what it gives every one of them:
sampling with the generator's cache, and teacher-forced log-probs of given tokens, both under
the same decoding strategy.

A family (LlamaGen's GPT in gpt.py, or another) subclasses ``ARImageGenerator`` and implements its
abstract methods; nothing else in argrpo needs to know it. Sequence positions count the
``cls_token_num`` condition positions first, then the ``block_size`` image tokens.
"""
from abc import abstractmethod
from typing import Any, NamedTuple, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from argrpo.samplers import TokenSampler
from .onednn import onednn_linears


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

    @abstractmethod
    def forward(self, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor] = None) -> Tensor:
        """Teacher-forced logits [B, L, V]: position t predicts ``tokens[:, t]`` from the
        condition and ``tokens[:, :t]``."""

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
               uniforms: Optional[Tensor] = None) -> Rollout:
        """Draw ``num_tokens`` (default ``block_size``) image tokens per condition, with random
        numbers from ``generator``, or from ``uniforms`` [B, num_tokens] (one row per sample makes
        each sample independent of the batch it is drawn in). On CPU in float32 the linear layers
        run through oneDNN (see onednn.py)."""
        B, L, T = len(cond), num_tokens or self.block_size, self.cls_token_num
        cond_all, mask_all = self._with_null(cond, cond_mask, sampler)
        caches = self.new_caches(len(cond_all), T + L - 1)
        tokens = torch.empty(B, L, dtype=torch.long, device=cond.device)
        log_probs = torch.empty(B, L, device=cond.device)
        with onednn_linears(self, len(cond_all)):
            logits = self.prefill(cond_all, mask_all, caches)
            for t in range(L):
                if t > 0:
                    fed = tokens[:, t - 1].repeat(len(cond_all) // B)
                    logits = self.decode_step(fed, T + t - 1, mask_all, caches)
                lp = sampler.log_probs(logits[:B], logits[B:] if sampler.uses_cfg else None,
                                       sampler.guided(t))
                tokens[:, t] = sampler.draw(lp, generator, None if uniforms is None else uniforms[:, t])
                log_probs[:, t] = lp.gather(1, tokens[:, t, None])[:, 0]
        return Rollout(tokens, log_probs)

    def log_prob(self, tokens: Tensor, cond: Tensor, sampler: TokenSampler,
                 cond_mask: Optional[Tensor] = None, with_entropy: bool = False):
        """Teacher-forced log-probs [B, L] of ``tokens`` under ``sampler``'s distribution (CFG
        mixing included when it guides; top-k / top-p keep the scored token, so it is finite),
        in one forward; with ``with_entropy`` also the entropy [B, L] of that distribution.
        Differentiable."""
        B = len(tokens)
        cond_all, mask_all = self._with_null(cond, cond_mask, sampler)
        logits = self(tokens.repeat(len(cond_all) // B, 1), cond_all, mask_all)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        lp = sampler.log_probs(logits[:B], logits[B:] if sampler.uses_cfg else None,
                               sampler.guided(positions), keep=tokens)
        token_lp = lp.gather(-1, tokens[..., None])[..., 0]
        if not with_entropy:
            return token_lp
        entropy = -(lp.exp() * lp.masked_fill(torch.isinf(lp), 0)).sum(-1)
        return token_lp, entropy
