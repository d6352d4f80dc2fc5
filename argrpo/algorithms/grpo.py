"""GRPO: group-relative advantages and the clipped surrogate with a KL penalty.

Covers the variants users ask for: advantage normalisation per group (GRPO), none (Dr. GRPO) or
by the batch std; asymmetric clipping (eps_low, eps_high); the k1 / k2 / k3 KL estimators;
loss aggregation per token, per sequence or as Dr. GRPO; an entropy bonus; several inner epochs
and minibatches per rollout; dropping groups whose rewards are all equal (DAPO's dynamic
sampling, by masking); advantages per reward component; token credit from the group (STAGE).

Which distributions: every log-prob is that of the sampler's distribution (CFG mixing,
temperature, top-k / top-p truncation renormalised; see ``TokenSampler``) at the drawn token, so
the ratio compares the policy now with the policy that drew the rollout, and the KL the policy
with the reference, on the tokens the rollout drew.

KL estimators, with r = reference / policy at a token drawn from the policy:
- k1 = -log r. Its value is an unbiased estimate of KL(policy || reference), but as a loss term
  its expected gradient is zero (E[grad log policy] = 0): it only adds noise.
- k2 = (log r)^2 / 2. Biased value; its expected gradient is that of KL(policy || reference).
- k3 = r - log r - 1 (Schulman's estimator; TRL's and DeepSeekMath's choice, the paper's).
  Unbiased and non-negative value of KL(policy || reference); its expected gradient is that of
  KL(reference || policy), the forward KL.
The logged ``kl`` is always the k3 value, whatever the loss uses (``kl_k1`` / ``kl_k2`` is the
estimator in the loss when it is another).
"""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from argrpo.registry import ALGORITHMS
from .token_credit import TokenCredit


@ALGORITHMS.register_module()
class GRPO:
    """
    Args:
        group_size: samples per prompt (G).
        adv_norm: 'group' ((r - group mean) / (group std + std_eps), unbiased std, as AR-GRPO),
            'none' (r - group mean, Dr. GRPO) or 'batch' ((r - group mean) / (batch std + std_eps)).
            A group whose rewards are all equal gets advantages of exactly 0.
        eps_low, eps_high: the ratio is clipped to [1 - eps_low, 1 + eps_high].
        beta: KL weight; 0 drops the reference model and its forward.
        kl_estimator: 'k1', 'k2' or 'k3' (see the module docstring for what each optimises).
        loss_agg: 'token' (mean over all tokens of the minibatch), 'sequence' (mean over tokens,
            then over sequences) or 'dr_grpo' (sum over tokens / (sequences * max_tokens)).
        max_tokens: the constant of 'dr_grpo' (defaults to the sequence length).
        entropy_coef: weight of the entropy bonus (subtracted from the loss).
        inner_epochs, minibatches: updates per rollout = inner_epochs * minibatches. Every
            minibatch takes ``group_size / minibatches`` samples of every group, so minibatches
            are equal and the same whatever the number of processes: ``minibatches`` must
            divide ``group_size``.
        drop_uniform_groups: DAPO's dynamic sampling by masking (off by default): groups whose
            rewards are all equal (no learning signal) leave the update, whose averages then run
            over the informative samples only (their KL and entropy terms leave with them); an
            iteration with no informative group makes no update.
        component_norm: per-component advantages (off by default): each part of the reward
            (``BaseReward.parts``: each leaf reward of a ``WeightedSum`` with its weight) is
            normalised within its group by ``adv_norm`` on its own, then the parts are weighted
            and summed (``component_advantages``), so that one component's scale cannot drown
            another's. ``ARGRPOModel`` logs each part's share (``adv_<name>``).
        token_credit: ``TokenCredit`` arguments (off by default, None): each token's advantage and
            KL down-weighted by its agreement with the other samples of its group at the same
            position (see ``argrpo.algorithms.token_credit``).
    """

    def __init__(self, group_size: int = 8, adv_norm: str = 'group', std_eps: float = 1e-4,
                 eps_low: float = 0.2, eps_high: Optional[float] = None, beta: float = 0.1,
                 kl_estimator: str = 'k3', loss_agg: str = 'token', max_tokens: Optional[int] = None,
                 entropy_coef: float = 0.0, inner_epochs: int = 1, minibatches: int = 1,
                 drop_uniform_groups: bool = False, component_norm: bool = False,
                 token_credit: Optional[dict] = None):
        if group_size < 2:
            raise ValueError(f'group_size must be >= 2 for group-relative advantages, got {group_size}')
        for key, value, choices in (('adv_norm', adv_norm, ('group', 'none', 'batch')),
                                    ('kl_estimator', kl_estimator, ('k1', 'k2', 'k3')),
                                    ('loss_agg', loss_agg, ('token', 'sequence', 'dr_grpo'))):
            if value not in choices:
                raise ValueError(f'{key} must be one of {choices}, got {value!r}')
        if beta < 0 or inner_epochs < 1 or minibatches < 1:
            raise ValueError('beta must be >= 0, inner_epochs and minibatches >= 1')
        if group_size % minibatches:
            raise ValueError(f'minibatches ({minibatches}) must divide group_size ({group_size}): each '
                             'minibatch takes the same number of samples of every group')
        self.group_size, self.adv_norm, self.std_eps = group_size, adv_norm, std_eps
        self.eps_low, self.eps_high = eps_low, eps_low if eps_high is None else eps_high
        self.beta, self.kl_estimator, self.loss_agg = beta, kl_estimator, loss_agg
        self.max_tokens, self.entropy_coef = max_tokens, entropy_coef
        self.inner_epochs, self.minibatches = inner_epochs, minibatches
        self.drop_uniform_groups = drop_uniform_groups
        self.component_norm = component_norm
        self.token_credit = None if token_credit is None else TokenCredit(**token_credit)

    @property
    def needs_reference(self) -> bool:
        return self.beta > 0

    def _groups(self, rewards: Tensor) -> Tensor:
        if rewards.numel() % self.group_size:
            raise ValueError(f'{rewards.numel()} rewards do not split into groups of {self.group_size}')
        return rewards.float().view(-1, self.group_size)

    def uniform_groups(self, rewards: Tensor) -> Tensor:
        """rewards [B * G] -> bool [B]: the groups whose rewards are all equal."""
        groups = self._groups(rewards)
        return groups.amin(1) == groups.amax(1)

    def advantages(self, rewards: Tensor, batch_std: Optional[Tensor] = None) -> Tensor:
        """rewards [B * G], grouped contiguously -> advantages [B * G]. ``batch_std`` is the std
        of the global batch (for adv_norm='batch'; computed from ``rewards`` if not given)."""
        groups = self._groups(rewards)
        centred = groups - groups.mean(1, keepdim=True)
        if self.adv_norm == 'group':
            centred = centred / (groups.std(1, keepdim=True) + self.std_eps)
        elif self.adv_norm == 'batch':
            std = rewards.float().std() if batch_std is None else batch_std
            centred = centred / (std + self.std_eps)
        # the mean of equal numbers need not round to them: force exact zeros (Adam would turn
        # the rounding residue into a full learning-rate step)
        return centred.masked_fill(self.uniform_groups(rewards)[:, None], 0.0).flatten()

    def component_advantages(self, parts: Dict[str, Tuple[float, Tensor]],
                             batch_stds: Optional[Dict[str, Tensor]] = None) -> Dict[str, Tensor]:
        """parts {name: (weight, rewards [B * G])} -> {name: weight * advantages [B * G]}, each
        part normalised on its own (``advantages``; ``batch_stds``: each part's std over the global
        batch, for adv_norm='batch'). Their sum is the advantage of ``component_norm``."""
        stds = batch_stds or {}
        return {name: weight * self.advantages(values, stds.get(name)) for name, (weight, values) in parts.items()}

    def kl(self, log_probs: Tensor, ref_log_probs: Tensor, estimator: Optional[str] = None) -> Tensor:
        """Per-token estimate of KL(policy || reference) (``estimator``, default the configured
        one) from tokens sampled by the policy. ``|log r|`` is clamped at 20 as a last guard; finite
        log-probs keep it far from that."""
        log_ratio = (ref_log_probs - log_probs).clamp(-20, 20)  # log(ref / policy)
        estimator = estimator or self.kl_estimator
        if estimator == 'k1':
            return -log_ratio
        if estimator == 'k2':
            return 0.5 * log_ratio ** 2
        return log_ratio.exp() - log_ratio - 1

    def aggregate(self, per_token: Tensor) -> Tensor:
        if self.loss_agg == 'token':
            return per_token.mean()
        if self.loss_agg == 'sequence':
            return per_token.mean(1).mean()
        return per_token.sum() / (per_token.shape[0] * (self.max_tokens or per_token.shape[1]))

    def loss(self, log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor,
             ref_log_probs: Optional[Tensor] = None, entropy: Optional[Tensor] = None,
             sample_weight: Optional[Tensor] = None, token_weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Token log-probs [n, L] (policy, with grad; rollout; reference), advantages [n],
        entropy [n, L], ``sample_weight`` [n] (each sample's share in the averages, 1 if not
        given), ``token_weight`` [n, L] (``token_credit``'s weights of the advantage and / or KL
        term of each token, as configured; both without ``token_credit``) -> ``loss`` and
        detached statistics (``log_ratio_max``: max ``|log r|``)."""
        log_ratio = log_probs - old_log_probs
        ratio = log_ratio.exp()
        adv = advantages[:, None]
        clipped = ratio.clamp(1 - self.eps_low, 1 + self.eps_high)
        per_token = -torch.minimum(ratio * adv, clipped * adv)
        credit = self.token_credit or TokenCredit()
        if token_weight is not None and credit.advantage:
            per_token = per_token * token_weight
        stats = {}
        if self.beta > 0:
            if ref_log_probs is None:
                raise ValueError('beta > 0 needs the reference log-probs')
            kl = self.kl(log_probs, ref_log_probs)
            per_token = per_token + self.beta * (kl * token_weight if token_weight is not None and credit.kl else kl)
            stats['kl'] = (kl if self.kl_estimator == 'k3' else self.kl(log_probs, ref_log_probs, 'k3')).detach().mean()
            if self.kl_estimator != 'k3':
                stats[f'kl_{self.kl_estimator}'] = kl.detach().mean()
        if self.entropy_coef and entropy is not None:
            per_token = per_token - self.entropy_coef * entropy
        if sample_weight is not None:
            per_token = per_token * sample_weight[:, None]
        is_clipped = ((ratio < 1 - self.eps_low) & (adv < 0)) | ((ratio > 1 + self.eps_high) & (adv > 0))
        stats.update(ratio=ratio.detach().mean(), clip_frac=is_clipped.float().mean(),
                     log_ratio_max=log_ratio.detach().abs().max())
        if entropy is not None:
            stats['entropy'] = entropy.detach().mean()
        return dict(loss=self.aggregate(per_token), **stats)
