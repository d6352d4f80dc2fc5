"""GRPO: group-relative advantages and the clipped surrogate with a KL penalty.

Covers the variants users ask for: advantage normalisation per group (GRPO), none (Dr. GRPO) or
by the batch std; asymmetric clipping (eps_low, eps_high); the k1 / k2 / k3 KL estimators;
loss aggregation per token, per sequence or as Dr. GRPO; an entropy bonus; several inner epochs
and minibatches per rollout.
"""
from typing import Dict, Optional

import torch
from torch import Tensor

from argrpo.registry import ALGORITHMS


@ALGORITHMS.register_module()
class GRPO:
    """
    Args:
        group_size: samples per prompt (G).
        adv_norm: 'group' ((r - group mean) / (group std + std_eps), unbiased std, as AR-GRPO),
            'none' (r - group mean, Dr. GRPO) or 'batch' ((r - group mean) / (batch std + std_eps)).
        eps_low, eps_high: the ratio is clipped to [1 - eps_low, 1 + eps_high].
        beta: KL weight; 0 drops the reference model and its forward.
        kl_estimator: 'k1' (log r), 'k2' ((log r)^2 / 2) or 'k3' (r - log r - 1, r = ref / policy).
        loss_agg: 'token' (mean over all tokens of the minibatch), 'sequence' (mean over tokens,
            then over sequences) or 'dr_grpo' (sum over tokens / (sequences * max_tokens)).
        max_tokens: the constant of 'dr_grpo' (defaults to the sequence length).
        entropy_coef: weight of the entropy bonus (subtracted from the loss).
        inner_epochs, minibatches: updates per rollout = inner_epochs * minibatches.
    """

    def __init__(self, group_size: int = 8, adv_norm: str = 'group', std_eps: float = 1e-4,
                 eps_low: float = 0.2, eps_high: Optional[float] = None, beta: float = 0.1,
                 kl_estimator: str = 'k3', loss_agg: str = 'token', max_tokens: Optional[int] = None,
                 entropy_coef: float = 0.0, inner_epochs: int = 1, minibatches: int = 1):
        if group_size < 2:
            raise ValueError(f'group_size must be >= 2 for group-relative advantages, got {group_size}')
        for key, value, choices in (('adv_norm', adv_norm, ('group', 'none', 'batch')),
                                    ('kl_estimator', kl_estimator, ('k1', 'k2', 'k3')),
                                    ('loss_agg', loss_agg, ('token', 'sequence', 'dr_grpo'))):
            if value not in choices:
                raise ValueError(f'{key} must be one of {choices}, got {value!r}')
        if beta < 0 or inner_epochs < 1 or minibatches < 1:
            raise ValueError('beta must be >= 0, inner_epochs and minibatches >= 1')
        self.group_size, self.adv_norm, self.std_eps = group_size, adv_norm, std_eps
        self.eps_low, self.eps_high = eps_low, eps_low if eps_high is None else eps_high
        self.beta, self.kl_estimator, self.loss_agg = beta, kl_estimator, loss_agg
        self.max_tokens, self.entropy_coef = max_tokens, entropy_coef
        self.inner_epochs, self.minibatches = inner_epochs, minibatches

    @property
    def needs_reference(self) -> bool:
        return self.beta > 0

    def advantages(self, rewards: Tensor, batch_std: Optional[Tensor] = None) -> Tensor:
        """rewards [B * G], grouped contiguously -> advantages [B * G]. ``batch_std`` is the std
        of the global batch (for adv_norm='batch'; computed from ``rewards`` if not given)."""
        if rewards.numel() % self.group_size:
            raise ValueError(f'{rewards.numel()} rewards do not split into groups of {self.group_size}')
        groups = rewards.float().view(-1, self.group_size)
        centred = groups - groups.mean(1, keepdim=True)
        if self.adv_norm == 'group':
            centred = centred / (groups.std(1, keepdim=True) + self.std_eps)
        elif self.adv_norm == 'batch':
            std = rewards.float().std() if batch_std is None else batch_std
            centred = centred / (std + self.std_eps)
        return centred.flatten()

    def kl(self, log_probs: Tensor, ref_log_probs: Tensor) -> Tensor:
        """Per-token estimate of KL(policy || reference) from tokens sampled by the policy."""
        log_ratio = (ref_log_probs - log_probs).clamp(-20, 20)  # log(ref / policy)
        if self.kl_estimator == 'k1':
            return -log_ratio
        if self.kl_estimator == 'k2':
            return 0.5 * log_ratio ** 2
        return log_ratio.exp() - log_ratio - 1

    def aggregate(self, per_token: Tensor) -> Tensor:
        if self.loss_agg == 'token':
            return per_token.mean()
        if self.loss_agg == 'sequence':
            return per_token.mean(1).mean()
        return per_token.sum() / (per_token.shape[0] * (self.max_tokens or per_token.shape[1]))

    def loss(self, log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor,
             ref_log_probs: Optional[Tensor] = None,
             entropy: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Token log-probs [n, L] (policy, with grad; rollout; reference), advantages [n],
        entropy [n, L] -> ``loss`` and detached statistics."""
        ratio = (log_probs - old_log_probs).exp()
        adv = advantages[:, None]
        clipped = ratio.clamp(1 - self.eps_low, 1 + self.eps_high)
        per_token = -torch.minimum(ratio * adv, clipped * adv)
        stats = {}
        if self.beta > 0:
            if ref_log_probs is None:
                raise ValueError('beta > 0 needs the reference log-probs')
            kl = self.kl(log_probs, ref_log_probs)
            per_token = per_token + self.beta * kl
            stats['kl'] = kl.detach().mean()
        if self.entropy_coef and entropy is not None:
            per_token = per_token - self.entropy_coef * entropy
        is_clipped = ((ratio < 1 - self.eps_low) & (adv < 0)) | ((ratio > 1 + self.eps_high) & (adv > 0))
        stats.update(ratio=ratio.detach().mean(), clip_frac=is_clipped.float().mean())
        if entropy is not None:
            stats['entropy'] = entropy.detach().mean()
        return dict(loss=self.aggregate(per_token), **stats)
