"""From next-token logits to a token: CFG mixing, temperature, top-k, top-p.

The same object turns logits into the log-probs of the distribution that is sampled, during
rollouts (one position at a time) and in teacher-forced scoring (all positions at once), so
that GRPO's ratio and KL describe the distribution the tokens were drawn from.

With top-k / top-p, scoring given tokens (``keep``) truncates each model's logits by its own
ranking and keeps the given token in the set: the distribution scored is the truncated one,
renormalised, over the kept tokens plus the drawn one. A token the rollout drew therefore has a
finite log-prob under every later scoring (the policy after updates, the reference, another
precision), where a plain re-truncation could drop it (-inf) when rounding reorders the logits
at the edge of the kept set.
"""
from typing import Optional, Union

import torch
from torch import Tensor

from argrpo.registry import SAMPLERS


@SAMPLERS.register_module()
class TokenSampler:
    """Decoding strategy of an AR image generator.

    Args:
        temperature: logits are divided by it before filtering (> 0).
        top_k: keep the k most likely tokens (0 keeps all).
        top_p: keep the smallest set whose probability reaches top_p (1.0 keeps all).
        cfg_scale: classifier-free guidance, ``uncond + s * (cond - uncond)``; 1.0 turns it off
            (and with it the unconditional half of the batch).
        cfg_interval: LlamaGen's interval: with ``k >= 0`` only tokens ``0..k+1`` are guided,
            later ones use the conditional logits; -1 guides every token.
        greedy: take the most likely token instead of drawing one.
    """

    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 cfg_scale: float = 1.0, cfg_interval: int = -1, greedy: bool = False):
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        if top_k < 0:
            raise ValueError(f'top_k must be >= 0 (0 disables it), got {top_k}')
        if not 0 < top_p <= 1:
            raise ValueError(f'top_p must lie in (0, 1], got {top_p}')
        if not cfg_scale >= 1:
            raise ValueError(f'cfg_scale must be >= 1.0 (1.0 disables guidance), got {cfg_scale}')
        if cfg_interval < -1:
            raise ValueError(f'cfg_interval must be >= -1, got {cfg_interval}')
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.cfg_scale, self.cfg_interval, self.greedy = cfg_scale, cfg_interval, greedy

    def __repr__(self) -> str:
        return (f'TokenSampler(temperature={self.temperature}, top_k={self.top_k}, '
                f'top_p={self.top_p}, cfg_scale={self.cfg_scale}, '
                f'cfg_interval={self.cfg_interval}, greedy={self.greedy})')

    @property
    def uses_cfg(self) -> bool:
        return self.cfg_scale > 1.0

    @property
    def truncates(self) -> bool:
        """Whether top-k or top-p cut the vocabulary."""
        return self.top_k > 0 or self.top_p < 1.0

    def guided(self, positions: Union[int, Tensor]) -> Union[bool, Tensor]:
        """Whether the token at ``positions`` (0-based image-token index) is guided."""
        if self.cfg_interval < 0:
            return self.uses_cfg if isinstance(positions, int) else torch.full_like(
                positions, self.uses_cfg, dtype=torch.bool)
        return self.uses_cfg & (positions <= self.cfg_interval + 1)

    def log_probs(self, cond_logits: Tensor, uncond_logits: Optional[Tensor] = None,
                  guided: Union[bool, Tensor] = True, keep: Optional[Tensor] = None) -> Tensor:
        """Log-probs over the vocabulary of the distribution tokens are drawn from.

        ``cond_logits`` [..., V]; ``uncond_logits`` like it (needed when ``uses_cfg``);
        ``guided`` a bool or a bool tensor over the position axis (dim -2); ``keep`` [...] token
        ids that top-k / top-p never drop (the tokens being scored).
        """
        logits = cond_logits.float()
        if self.uses_cfg:
            if uncond_logits is None:
                raise ValueError('cfg_scale > 1 needs the unconditional logits')
            mixed = uncond_logits.float() + self.cfg_scale * (logits - uncond_logits.float())
            if isinstance(guided, Tensor):
                logits = torch.where(guided[:, None], mixed, logits)
            elif guided:
                logits = mixed
        if self.temperature != 1.0:
            logits = logits / self.temperature
        drop = torch.zeros_like(logits, dtype=torch.bool)
        if self.top_k > 0 and self.top_k < logits.shape[-1]:
            drop = logits < logits.topk(self.top_k, dim=-1).values[..., -1:]
        if self.top_p < 1.0:
            sorted_logits, order = logits.masked_fill(drop, float('-inf')).sort(dim=-1, descending=True)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            beyond = torch.zeros_like(cum, dtype=torch.bool)
            beyond[..., 1:] = cum[..., :-1] > self.top_p  # always keep the most likely token
            drop = drop | beyond.scatter(-1, order, beyond)
        if keep is not None:
            drop = drop.scatter(-1, keep[..., None], False)
        return logits.masked_fill(drop, float('-inf')).log_softmax(-1)

    def draw(self, log_probs: Tensor, generator: Optional[torch.Generator] = None,
             uniforms: Optional[Tensor] = None) -> Tensor:
        """Tokens [N] from log-probs [N, V] by inverting the CDF at one uniform draw per row
        (``uniforms`` [N] if given, else drawn with ``generator``); an order of magnitude cheaper
        than ``torch.multinomial``. A zero-probability token is never drawn: a draw that rounds
        to the top of the CDF (a float64 uniform near 1 cast to float32 becomes 1.0) takes the
        last token of non-zero probability."""
        if self.greedy:
            return log_probs.argmax(-1)
        cdf = log_probs.exp().cumsum(-1)
        if uniforms is None:
            u = torch.rand(len(cdf), 1, generator=generator, device=cdf.device, dtype=cdf.dtype)
        else:
            u = uniforms.to(cdf)[:, None]
        total = cdf[:, -1:].contiguous()
        tokens = torch.searchsorted(cdf, u * total, right=True)
        last_possible = torch.searchsorted(cdf, total)  # where the CDF reaches its total
        return torch.minimum(tokens, last_possible)[:, 0]
