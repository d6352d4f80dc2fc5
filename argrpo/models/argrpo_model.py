"""The MMEngine model of AR-GRPO: one ``train_step`` is one GRPO iteration.

rollout (B prompts x G samples, the configured sampler) -> decode (frozen VQ) -> rewards ->
group-relative advantages -> reference log-probs (one forward per rollout, only if beta > 0) ->
``inner_epochs x minibatches`` updates through the OptimWrapper (AMP, clipping and accumulation
from the config). The rollout's own log-probs serve as the old log-probs: they are those of the
distribution sampled, and nothing has changed them yet.
"""
import copy
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_gather, all_reduce, get_world_size
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper
from torch import Tensor

from argrpo.registry import ALGORITHMS, GENERATORS, MODELS, REWARDS, SAMPLERS, TOKENIZERS
from argrpo.utils import frozen
from .frozen_parts import FrozenPartsModel


class NonFiniteError(RuntimeError):
    pass


# Frozen parts read from their own files: left out of checkpoints (a run's checkpoint holds the
# policy and its reference, not gigabytes of reward models).
FILE_WEIGHTS = ('tokenizer', 'text_encoder', 'reward')


def _without_file_weights(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k[len(prefix):].split('.')[0] in FILE_WEIGHTS]:
        del state_dict[key]
    return state_dict


@MODELS.register_module()
class ARGRPOModel(FrozenPartsModel):
    """
    Args:
        generator: the policy's config (weights from its ``checkpoint``); the reference is a
            frozen copy of the built policy, so it shares config and weights.
        tokenizer: the VQ tokenizer (frozen). text_encoder: for text-to-image (frozen).
        sampler: the decoding strategy of rollouts, also used to score tokens.
        reward: a reward config (usually ``WeightedSum``).
        algorithm: the GRPO config.
        rollout_chunk: samples per ``generator.sample`` call (memory); None: all at once.
        old_log_probs: 'rollout' reuses the sampling log-probs (exact in float32); 'recompute'
            scores the rollout teacher-forced once, which makes the on-policy ratio exactly 1
            under bf16 / CFG numerics.
        on_nonfinite: 'skip' the iteration (reported with iteration and component) or 'raise'.
        keep_images: how many decoded samples of the last rollout to keep for logging hooks.
        eval_sampler: the decoding strategy of evaluation (``val_step`` / ``test_step``);
            default: ``sampler``.
        eval_seed: evaluation sample ``i`` draws its randomness from seed ``eval_seed + i``.
    """

    frozen_parts = ('reference',) + FILE_WEIGHTS

    def __init__(self, generator: dict, tokenizer: dict, sampler: dict, reward: dict, algorithm: dict,
                 text_encoder: Optional[dict] = None, rollout_chunk: Optional[int] = None,
                 old_log_probs: str = 'rollout', on_nonfinite: str = 'skip', keep_images: int = 16,
                 eval_sampler: Optional[dict] = None, eval_seed: int = 0,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if on_nonfinite not in ('skip', 'raise') or old_log_probs not in ('rollout', 'recompute'):
            raise ValueError("on_nonfinite is 'skip' or 'raise'; old_log_probs 'rollout' or 'recompute'")
        self.policy = GENERATORS.build(generator)
        self.algorithm = ALGORITHMS.build(algorithm)
        self.reference = frozen(copy.deepcopy(self.policy)) if self.algorithm.needs_reference else None
        self.tokenizer = frozen(TOKENIZERS.build(tokenizer))
        self.text_encoder = frozen(TOKENIZERS.build(text_encoder)) if text_encoder else None
        self.reward = frozen(REWARDS.build(reward))
        self.sampler = SAMPLERS.build(sampler)
        self.eval_sampler = SAMPLERS.build(eval_sampler) if eval_sampler else self.sampler
        self.eval_seed = eval_seed
        self.rollout_chunk, self.old_log_probs = rollout_chunk, old_log_probs
        self.on_nonfinite, self.keep_images = on_nonfinite, keep_images
        self.last_images: Optional[Tensor] = None
        self.last_prompts: List[str] = []
        self._register_state_dict_hook(_without_file_weights)
        self._register_load_state_dict_pre_hook(self._keep_file_weights)

    def _keep_file_weights(self, state_dict, prefix, *args) -> None:
        """Loading a checkpoint keeps the tokenizer / text encoder / reward weights read from
        their own files (checkpoints do not hold them)."""
        for name in FILE_WEIGHTS:
            module = getattr(self, name)
            if module is not None:
                for key, value in module.state_dict(keep_vars=True).items():
                    state_dict.setdefault(f'{prefix}{name}.{key}', value)

    @property
    def device(self) -> torch.device:
        return self.policy.output.weight.device

    # ---- pieces of one iteration ----------------------------------------------------------
    @torch.no_grad()
    def encode_conditions(self, conds: Sequence) -> Tuple[Tensor, Optional[Tensor]]:
        """Class ids -> LongTensor [B]; captions -> (features [B, T, C], mask [B, T])."""
        if self.text_encoder is None:
            return torch.as_tensor(list(conds), dtype=torch.long, device=self.device), None
        return self.text_encoder(list(conds))

    def _chunks(self, n: int, size: Optional[int]) -> List[slice]:
        size = size or n
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    @torch.no_grad()
    def rollout(self, cond: Tensor, cond_mask: Optional[Tensor], sampler=None,
                uniforms: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        outs = [self.policy.sample(cond[s], sampler or self.sampler, None if cond_mask is None else cond_mask[s],
                                   uniforms=None if uniforms is None else uniforms[s])
                for s in self._chunks(len(cond), self.rollout_chunk)]
        return torch.cat([o.tokens for o in outs]), torch.cat([o.log_probs for o in outs])

    @torch.no_grad()
    def decode(self, tokens: Tensor) -> Tensor:
        return torch.cat([self.tokenizer.decode(tokens[s]) for s in self._chunks(len(tokens), self.rollout_chunk)])

    @torch.no_grad()
    def score_tokens(self, model, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor]) -> Tensor:
        return torch.cat([model.log_prob(tokens[s], cond[s], self.sampler,
                                         None if cond_mask is None else cond_mask[s])
                          for s in self._chunks(len(tokens), self.rollout_chunk)])

    def forward(self, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor] = None,
                mode: str = 'log_prob') -> Tuple[Tensor, Tensor]:
        """The policy's teacher-forced log-probs and entropies; called through the DDP / FSDP
        wrapper during updates so that gradients are synchronised."""
        if mode != 'log_prob':
            raise ValueError(f"ARGRPOModel.forward supports mode='log_prob', got {mode!r}")
        return self.policy.log_prob(tokens, cond, self.sampler, cond_mask, with_entropy=True)

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

    # ---- one GRPO iteration ----------------------------------------------------------------
    def train_step(self, data: dict, optim_wrapper: OptimWrapper, policy_module=None) -> Dict[str, Tensor]:
        """``policy_module``: the DDP/FSDP wrapper whose forward computes the policy's log-probs
        (the model itself when not distributed)."""
        policy_module = policy_module or self
        G, algo = self.algorithm.group_size, self.algorithm
        log: Dict[str, Tensor] = {}
        clock = time.perf_counter()
        cond, cond_mask = self.encode_conditions(data['cond'])
        cond = cond.repeat_interleave(G, 0)
        cond_mask = None if cond_mask is None else cond_mask.repeat_interleave(G, 0)
        prompts = [p for p in data['prompt'] for _ in range(G)]
        self.policy.eval()
        tokens, old_lp = self.rollout(cond, cond_mask)
        log['time_rollout'], clock = torch.tensor(time.perf_counter() - clock), time.perf_counter()

        images = self.decode(tokens)
        log['time_decode'], clock = torch.tensor(time.perf_counter() - clock), time.perf_counter()
        components = self.reward.components(images, prompts)
        rewards = self.reward.combine(components)
        log['time_reward'], clock = torch.tensor(time.perf_counter() - clock), time.perf_counter()
        self.last_images, self.last_prompts = images[:self.keep_images].cpu(), prompts[:self.keep_images]

        bad = [name for name, value in components.items() if not torch.isfinite(value).all()]
        if self._nonfinite(f'reward component {", ".join(bad) or "(on another rank)"}', bool(bad)):
            return dict(log, skipped=torch.tensor(1.0))
        everything = {name: self._gather(value) for name, value in components.items()}
        everything['reward'] = self._gather(rewards)
        for name, value in everything.items():
            log.update({f'{name}_mean': value.mean(), f'{name}_std': value.std(),
                        f'{name}_min': value.min(), f'{name}_max': value.max()})
        advantages = algo.advantages(rewards, everything['reward'].std())

        if self.old_log_probs == 'recompute':
            old_lp = self.score_tokens(self.policy, tokens, cond, cond_mask)
        ref_lp = self.score_tokens(self.reference, tokens, cond, cond_mask) if self.reference is not None else None
        self.policy.train()
        stats: Dict[str, List[Tensor]] = {}
        for _ in range(algo.inner_epochs):
            order = torch.randperm(len(tokens), device=tokens.device)
            for s in self._chunks(len(tokens), -(-len(tokens) // algo.minibatches)):
                idx = order[s]
                with optim_wrapper.optim_context(policy_module):
                    new_lp, entropy = policy_module(tokens=tokens[idx], cond=cond[idx], mode='log_prob',
                                                    cond_mask=None if cond_mask is None else cond_mask[idx])
                    out = algo.loss(new_lp, old_lp[idx], advantages[idx],
                                    None if ref_lp is None else ref_lp[idx], entropy)
                if self._nonfinite('the loss', not torch.isfinite(out['loss']).item()):
                    optim_wrapper.zero_grad()
                    return dict(log, skipped=torch.tensor(1.0))
                optim_wrapper.update_params(out['loss'])
                for key, value in out.items():
                    stats.setdefault(key, []).append(value.detach())
        log.update({key: torch.stack(values).mean() for key, values in stats.items()})
        log['time_update'] = torch.tensor(time.perf_counter() - clock)
        log['skipped'] = torch.tensor(0.0)
        return log

    @staticmethod
    def _gather(value: Tensor) -> Tensor:
        return torch.cat(all_gather(value.contiguous())) if get_world_size() > 1 else value

    @torch.no_grad()
    def val_step(self, data: dict) -> List[dict]:
        """One image per evaluation item (``cond``, ``prompt``, ``index``) with ``eval_sampler``;
        item ``i`` draws from its own seed, so the samples do not depend on batch size or on how
        the evaluation set is sharded over ranks."""
        cond, cond_mask = self.encode_conditions(data['cond'])
        length = self.policy.block_size
        uniforms = torch.stack([torch.rand(length, dtype=torch.float64,
                                           generator=torch.Generator().manual_seed(self.eval_seed + int(i)))
                                for i in data['index']]).to(self.device)
        self.policy.eval()
        tokens, _ = self.rollout(cond, cond_mask, self.eval_sampler, uniforms)
        images = self.decode(tokens)
        return [dict(image=image, prompt=prompt, index=int(index))
                for image, prompt, index in zip(images, data['prompt'], data['index'])]

    test_step = val_step
