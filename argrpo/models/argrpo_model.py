"""The MMEngine model of AR-GRPO: one ``train_step`` is one GRPO iteration.

rollout (B prompts x G samples, the configured sampler) -> decode (frozen VQ) -> rewards ->
group-relative advantages -> reference log-probs (one forward per rollout, only if beta > 0) ->
``inner_epochs x minibatches`` updates through the OptimWrapper (AMP, clipping and accumulation
from the config), each the 'loss' mode of ``forward`` on a minibatch of the experience. The
rollout's own log-probs serve as the old log-probs: they are those of the distribution sampled,
and nothing has changed them yet.
"""
import copy
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_gather, all_reduce, get_world_size
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper
from torch import Tensor, nn

from argrpo.registry import ALGORITHMS, MODELS, REWARDS
from argrpo.utils import frozen, timed
from .generation_model import ARGenerationModel


class NonFiniteError(RuntimeError):
    pass


@MODELS.register_module()
class ARGRPOModel(ARGenerationModel):
    """
    Args:
        generator: the policy's config (weights from its ``checkpoint``); the reference is a
            frozen copy of the built policy, so it shares config and weights.
        tokenizer: the VQ tokenizer (frozen). text_encoder: for text-to-image (frozen).
        sampler: the decoding strategy of rollouts, also used to score tokens.
        reward: a reward config (usually ``WeightedSum``), frozen.
        algorithm: the GRPO config.
        rollout_chunk: samples per ``generator.sample`` call (memory); None: all at once.
        old_log_probs: 'rollout' reuses the sampling log-probs (exact in float32); 'recompute'
            scores the rollout teacher-forced once, which makes the on-policy ratio exactly 1
            under bf16 / CFG numerics.
        on_nonfinite: 'skip' the iteration (reported with iteration and component) or 'raise'.
        keep_images: how many decoded samples of each rollout to post to the message hub as
            the ``rollout_images`` runtime info (``SampleGridHook`` shows them).
        eval_sampler, eval_seed: as ``ARGenerationModel``.
    """

    file_weights = ARGenerationModel.file_weights + ('reward',)

    def __init__(self, generator: dict, tokenizer: dict, sampler: dict, reward: dict, algorithm: dict,
                 text_encoder: Optional[dict] = None, rollout_chunk: Optional[int] = None,
                 old_log_probs: str = 'rollout', on_nonfinite: str = 'skip', keep_images: int = 16,
                 eval_sampler: Optional[dict] = None, eval_seed: int = 0,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(generator, tokenizer, sampler, text_encoder, eval_sampler, eval_seed, rollout_chunk,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if on_nonfinite not in ('skip', 'raise') or old_log_probs not in ('rollout', 'recompute'):
            raise ValueError("on_nonfinite is 'skip' or 'raise'; old_log_probs 'rollout' or 'recompute'")
        self.algorithm = ALGORITHMS.build(algorithm)
        self.reference = frozen(copy.deepcopy(self.policy)) if self.algorithm.needs_reference else None
        self.reward = frozen(REWARDS.build(reward))
        self.old_log_probs, self.on_nonfinite, self.keep_images = old_log_probs, on_nonfinite, keep_images

    @torch.no_grad()
    def sync_reference(self, momentum: Optional[float] = None) -> None:
        """Copy the policy into the reference (``momentum=None``) or move the reference towards
        it: ``ref = (1 - momentum) * ref + momentum * policy``. Nothing without a reference."""
        if self.reference is None:
            return
        for ref, pol in zip(self.reference.parameters(), self.policy.parameters()):
            if momentum is None:
                ref.copy_(pol)
            else:
                ref.lerp_(pol, momentum)

    @torch.no_grad()
    def score_tokens(self, model: nn.Module, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor]) -> Tensor:
        """Teacher-forced log-probs of ``tokens`` under ``model`` (policy or reference), no grad."""
        return torch.cat([model.log_prob(tokens[s], cond[s], self.sampler, None if cond_mask is None else cond_mask[s])
                          for s in self.chunks(len(tokens))])

    def loss(self, tokens: Tensor, cond: Tensor, old_log_probs: Tensor, advantages: Tensor,
             cond_mask: Optional[Tensor] = None, ref_log_probs: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The GRPO loss (and its statistics) of a minibatch of the experience: MMEngine's
        'loss' mode, run through the DDP / FSDP wrapper so that gradients are synchronised."""
        log_probs, entropy = self.log_prob(tokens, cond, cond_mask)
        return self.algorithm.loss(log_probs, old_log_probs, advantages, ref_log_probs, entropy)

    def _nonfinite(self, what: str, bad: bool) -> bool:
        """Global decision (all ranks agree) on a non-finite value; reports or raises."""
        flag = torch.tensor(float(bad), device=self.device)
        if get_world_size() > 1:
            all_reduce(flag, op='sum')
        if flag.item() == 0:
            return False
        it = MessageHub.get_current_instance().get_info('iter', 0)
        message = f'iteration {it}: {what} is not finite'
        if self.on_nonfinite == 'raise':
            raise NonFiniteError(message)
        print_log(message + '; the step is skipped', logger='current', level=30)
        return True

    @staticmethod
    def _gather(value: Tensor) -> Tensor:
        return torch.cat(all_gather(value.contiguous())) if get_world_size() > 1 else value

    # ---- one GRPO iteration ----------------------------------------------------------------
    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One GRPO iteration, the minibatch losses run through the model itself."""
        return self.grpo_iteration(data, optim_wrapper, self)

    def grpo_iteration(self, data: dict, optim_wrapper: OptimWrapper, module: nn.Module) -> Dict[str, Tensor]:
        """One GRPO iteration whose minibatch losses run through ``module``: the model itself,
        or the distributed wrapper around it (``GRPODistributedDataParallel.train_step``), as
        MMEngine's ``BaseModel.train_step`` and ``MMDistributedDataParallel.train_step`` run their
        forward. Returns the log (rewards, loss statistics, ``time_*`` of each stage, ``skipped``)."""
        data = self.data_preprocessor(data, True)
        G, algo = self.algorithm.group_size, self.algorithm
        log: Dict[str, Tensor] = {}
        with timed(log, 'time_rollout'):
            cond, cond_mask = self.encode_conditions(data['cond'])
            cond = cond.repeat_interleave(G, 0)
            cond_mask = None if cond_mask is None else cond_mask.repeat_interleave(G, 0)
            tokens, old_lp = self.rollout(cond, cond_mask)
        with timed(log, 'time_decode'):
            images = self.decode(tokens)
        with timed(log, 'time_reward'):
            components = self.reward.components(images, [p for p in data['prompt'] for _ in range(G)])
            rewards = self.reward.combine(components)
        MessageHub.get_current_instance().update_info('rollout_images', images[:self.keep_images].cpu(),
                                                      resumed=False)

        bad = [name for name, value in components.items() if not torch.isfinite(value).all()]
        if self._nonfinite(f'reward component {", ".join(bad) or "(on another rank)"}', bool(bad)):
            return dict(log, skipped=torch.tensor(1.0))
        everything = {name: self._gather(value) for name, value in components.items()}
        everything['reward'] = self._gather(rewards)
        for name, value in everything.items():
            log.update({f'{name}_mean': value.mean(), f'{name}_std': value.std(),
                        f'{name}_min': value.min(), f'{name}_max': value.max()})

        with timed(log, 'time_update'):
            if self.old_log_probs == 'recompute':
                old_lp = self.score_tokens(self.policy, tokens, cond, cond_mask)
            ref_lp = None if self.reference is None else self.score_tokens(self.reference, tokens, cond, cond_mask)
            experience = dict(tokens=tokens, cond=cond, cond_mask=cond_mask, old_log_probs=old_lp,
                              advantages=algo.advantages(rewards, everything['reward'].std()), ref_log_probs=ref_lp)
            stats = self._update(experience, optim_wrapper, module)
        if stats is None:
            return dict(log, skipped=torch.tensor(1.0))
        return dict(log, **stats, skipped=torch.tensor(0.0))

    def _update(self, experience: Dict[str, Optional[Tensor]], optim_wrapper: OptimWrapper,
                module: nn.Module) -> Optional[Dict[str, Tensor]]:
        """``inner_epochs x minibatches`` updates; the mean of each loss statistic, or None when
        a non-finite loss skipped the step."""
        self.policy.train()
        n, algo = len(experience['tokens']), self.algorithm
        stats: Dict[str, List[Tensor]] = {}
        for _ in range(algo.inner_epochs):
            order = torch.randperm(n, device=experience['tokens'].device)
            for s in self.chunks(n, -(-n // algo.minibatches)):
                minibatch = {key: None if value is None else value[order[s]] for key, value in experience.items()}
                with optim_wrapper.optim_context(module):
                    out = module(mode='loss', **minibatch)
                if self._nonfinite('the loss', not torch.isfinite(out['loss']).item()):
                    optim_wrapper.zero_grad()
                    return None
                optim_wrapper.update_params(out['loss'])
                for key, value in out.items():
                    stats.setdefault(key, []).append(value.detach())
        return {key: torch.stack(values).mean() for key, values in stats.items()}
