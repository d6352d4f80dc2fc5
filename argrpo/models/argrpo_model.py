"""The MMEngine model of AR-GRPO: one ``train_step`` is one GRPO iteration.

rollout (B prompts x G samples, the configured sampler) -> decode (frozen VQ) -> rewards (of
each chunk while the next is sampled, with ``rollout_chunk``) ->
group-relative advantages -> old and reference log-probs -> ``inner_epochs x minibatches``
updates through the OptimWrapper (clipping and accumulation from the config), each the 'loss'
mode of ``forward`` on a minibatch of the experience.

One precision for the whole iteration: under ``AutocastOptimWrapper`` (``--amp``) the rollout,
the scoring of old and reference log-probs and the updates all run in its autocast, and the old
log-probs are recomputed teacher-forced on the update's own minibatches, so that the first update
of a rollout sees a ratio of exactly 1 (logged: ``onpolicy_log_ratio_max``, max |log r|).
Updates run the policy without dropout: the log-probs are those of the distribution sampled.

Randomness is tied to the samples: the tokens of prompt ``index`` and its place in the update's
minibatches come from the iteration's seed and ``index``, so a run draws the same samples and
updates whatever the number of processes (each minibatch takes G / minibatches samples of every
group).
"""
import contextlib
import copy
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather, all_reduce, get_world_size
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import Tensor, nn

from argrpo.engine import AutocastOptimWrapper
from argrpo.registry import ALGORITHMS, MODELS, REWARDS
from argrpo.utils import frozen, timed
from .generation_model import ARGenerationModel
from .lora import adapters_disabled, apply_lora


class NonFiniteError(RuntimeError):
    pass


@MODELS.register_module()
class ARGRPOModel(ARGenerationModel):
    """
    Args:
        generator: the policy's config (weights from its ``checkpoint``); the reference is a
            frozen copy of the built policy, so it shares config and weights; while it is the
            generator's ``checkpoint`` file (until ``sync_reference``), it is left out of
            checkpoints and rebuilt from that file on resume.
        tokenizer: the VQ tokenizer (frozen). text_encoder: for text-to-image (frozen).
        sampler: the decoding strategy of rollouts, also used to score tokens; never greedy
            (GRPO's log-probs must be those of a distribution the tokens were drawn from).
        reward: a reward config (usually ``WeightedSum``), frozen.
        algorithm: the GRPO config.
        rollout_chunk: samples per ``generator.sample`` call (memory); None: all at once.
        old_log_probs: 'rollout' reuses the sampling log-probs (exact to float32 rounding only
            without truncation: the KV-cache decoder and a teacher-forced forward round
            differently, by 0.06 in log-prob in bf16, and with top-k / top-p a rounding can move
            a token across the edge of the kept set and change the normaliser, by 0.02 seen in
            float32); 'recompute' scores the rollout teacher-forced on the update's minibatches
            before the first update, which makes the first ratio exactly 1 in any precision, for
            one more forward without gradient; 'auto': 'recompute' under mixed precision or with
            top-k / top-p, else 'rollout'.
        on_nonfinite: 'skip' the iteration (reported with iteration and component) or 'raise'.
        overlap_reward: with ``rollout_chunk``, score chunk k (in a worker thread) while chunk
            k+1 is sampled, for rewards that score each sample on its own (``per_sample``).
        log_prob_chunk: positions at a time of the output head and the sampler's distribution
            in scoring and updates (see ``ARImageGenerator.log_prob``): memory of [rows, chunk, V]
            float32 logits instead of [rows, L, V]; None: all positions at once.
        keep_images: how many decoded samples of each rollout to post to the message hub as
            the ``rollout_images`` runtime info (``SampleGridHook`` shows them).
        lora: LoRA adapters on the policy (``peft.LoraConfig`` arguments, see ``lora.apply_lora``):
            only they train, the generator's own weights stay frozen, and the reference is the
            policy with its adapters off (no second copy of the weights).
        eval_sampler, eval_seed, decoder: as ``ARGenerationModel``.
    """

    def __init__(self, generator: dict, tokenizer: dict, sampler: dict, reward: dict, algorithm: dict,
                 text_encoder: Optional[dict] = None, rollout_chunk: Optional[int] = None,
                 old_log_probs: str = 'auto', on_nonfinite: str = 'skip', overlap_reward: bool = True,
                 keep_images: int = 16, log_prob_chunk: Optional[int] = None, lora: Optional[dict] = None,
                 eval_sampler: Optional[dict] = None, eval_seed: int = 0, decoder: str = 'auto',
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(generator, tokenizer, sampler, text_encoder, eval_sampler, eval_seed, rollout_chunk,
                         decoder, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if on_nonfinite not in ('skip', 'raise') or old_log_probs not in ('auto', 'rollout', 'recompute'):
            raise ValueError("on_nonfinite is 'skip' or 'raise'; old_log_probs 'auto', 'rollout' or 'recompute'")
        if self.sampler.greedy:
            raise ValueError('GRPO needs sampled rollouts: a greedy sampler gives every sample of a group the '
                             'same tokens and log-probs that are not those of the tokens drawn; set '
                             'model.sampler.greedy=False (eval_sampler may stay greedy)')
        self.algorithm = ALGORITHMS.build(algorithm)
        self.lora = lora
        if lora is not None:
            apply_lora(self.policy, lora)
        self.reference = (frozen(copy.deepcopy(self.policy)) if self.algorithm.needs_reference and lora is None
                          else None)
        self.reward = frozen(REWARDS.build(reward))
        self.old_log_probs, self.on_nonfinite, self.keep_images = old_log_probs, on_nonfinite, keep_images
        self.overlap_reward, self.log_prob_chunk = overlap_reward, log_prob_chunk
        # while the reference is the generator's file, it is rebuilt from it, not checkpointed
        self.register_buffer('reference_synced', torch.tensor(False))

    @property
    def file_weights(self) -> Tuple[str, ...]:
        """The frozen parts read from their own files: ``ARGenerationModel``'s, the reward, and the
        reference while it is the generator's ``checkpoint`` (not moved by ``sync_reference``)."""
        unchanged = ('reference', ) if self.policy_from_file and not self.reference_synced else ()
        return super().file_weights + ('reward', ) + unchanged

    def _restore_state(self, state_dict, prefix, *args) -> None:
        """Checkpoints written before ``reference_synced`` existed hold the reference: it counts
        as synced (kept in later checkpoints) where they do."""
        state_dict.setdefault(prefix + 'reference_synced', torch.tensor(
            any(key.startswith(prefix + 'reference.') for key in state_dict)))
        super()._restore_state(state_dict, prefix, *args)

    def check_sync(self) -> None:
        """Raise where the reference cannot move (``ReferenceSyncHook`` asks before training)."""
        if self.lora is not None:
            raise ValueError('with model.lora the reference is the base model (the policy with its adapters '
                             'off) and cannot be synced: remove ReferenceSyncHook from the config')

    @torch.no_grad()
    def sync_reference(self, momentum: Optional[float] = None) -> None:
        """Copy the policy into the reference (``momentum=None``) or move the reference towards
        it: ``ref = (1 - momentum) * ref + momentum * policy``. Nothing without a reference."""
        self.check_sync()
        if self.reference is None:
            return
        self.reference_synced.fill_(True)
        for ref, pol in zip(self.reference.parameters(), self.policy.parameters()):
            if momentum is None:
                ref.copy_(pol)
            else:
                ref.lerp_(pol, momentum)

    @torch.no_grad()
    def score_tokens(self, model: nn.Module, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor],
                     minibatches: List[Tensor]) -> Tensor:
        """Teacher-forced log-probs of ``tokens`` under ``model`` (policy or reference), no grad,
        one forward per minibatch (index tensors), as the update will run them."""
        out = torch.empty(tokens.shape, device=tokens.device)
        for idx in minibatches:
            out[idx] = model.log_prob(tokens[idx], cond[idx], self.sampler,
                                      None if cond_mask is None else cond_mask[idx], chunk=self.log_prob_chunk)
        return out

    def score_reference(self, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor],
                        minibatches: List[Tensor]) -> Optional[Tensor]:
        """``score_tokens`` under the reference: its frozen copy, or with LoRA the policy with its
        adapters off (the base model); None without a KL term (``algorithm.needs_reference``)."""
        if not self.algorithm.needs_reference:
            return None
        if self.lora is None:
            return self.score_tokens(self.reference, tokens, cond, cond_mask, minibatches)
        with adapters_disabled(self.policy):
            return self.score_tokens(self.policy, tokens, cond, cond_mask, minibatches)

    def loss(self, tokens: Tensor, cond: Tensor, old_log_probs: Tensor, advantages: Tensor,
             cond_mask: Optional[Tensor] = None, ref_log_probs: Optional[Tensor] = None,
             sample_weight: Optional[Tensor] = None, token_weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The GRPO loss (and its statistics) of a minibatch of the experience: MMEngine's
        'loss' mode, run through the DDP / FSDP wrapper so that gradients are synchronised."""
        log_probs, entropy = self.policy.log_prob(
            tokens, cond, self.sampler, cond_mask, chunk=self.log_prob_chunk,
            entropy='differentiable' if self.algorithm.entropy_coef else 'detached')
        return self.algorithm.loss(log_probs, old_log_probs, advantages, ref_log_probs, entropy, sample_weight,
                                   token_weight=token_weight)

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

    @staticmethod
    def precision(optim_wrapper: OptimWrapper) -> contextlib.AbstractContextManager:
        """The autocast of training, for every forward of the iteration (none in float32)."""
        if isinstance(optim_wrapper, AmpOptimWrapper):
            raise TypeError("ARGRPOModel trains in mixed precision with optim_wrapper type 'AutocastOptimWrapper' "
                            "(one precision for rollout, scoring and update; what --amp sets); MMEngine's "
                            'AmpOptimWrapper would autocast the update alone')
        return optim_wrapper.autocast() if isinstance(optim_wrapper, AutocastOptimWrapper) else contextlib.nullcontext()

    def sample_draws(self, data: dict, num_prompts: int) -> Tuple[Tensor, Tensor]:
        """The iteration's random numbers, tied to the prompts: for the ``k``-th occurrence of
        dataset item ``index`` in the batch, a generator seeded with (``rollout_seed``, index, k)
        draws the uniforms of its G samples [G, L] and, per inner epoch, the order of the group's
        samples in the minibatches [E, G]. Returns uniforms [B * G, L] and orders [E, B, G].
        ``rollout_seed`` comes with the batch (``GRPOTrainLoop``), else from the global RNG;
        items without ``index`` are numbered by their place in the batch."""
        G, E, L = self.algorithm.group_size, self.algorithm.inner_epochs, self.policy.block_size
        seed = int(data['rollout_seed']) if 'rollout_seed' in data else int(torch.randint(2 ** 31, ()))
        seen: Counter = Counter()
        uniforms, orders = [], []
        for index in data.get('index', range(num_prompts)):
            key = np.random.SeedSequence([seed, int(index), seen[int(index)]]).generate_state(1, np.uint64)[0]
            seen[int(index)] += 1
            gen = torch.Generator().manual_seed(int(key) >> 1)
            uniforms.append(torch.rand(G, L, generator=gen, dtype=torch.float64))
            orders.append(torch.stack([torch.randperm(G, generator=gen) for _ in range(E)]))
        return torch.cat(uniforms).to(self.device), torch.stack(orders, 1).to(self.device)

    def minibatch_indices(self, orders: Tensor) -> List[List[Tensor]]:
        """orders [E, B, G] -> per epoch, the sample indices of each minibatch: the k-th slice of
        every group's order, so all minibatches are of equal size."""
        E, B, G = orders.shape
        per = G // self.algorithm.minibatches
        samples = orders + torch.arange(B, device=orders.device)[:, None] * G
        return [[samples[e, :, k * per:(k + 1) * per].flatten() for k in range(self.algorithm.minibatches)]
                for e in range(E)]

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
        precision = self.precision(optim_wrapper)
        recompute = self.old_log_probs == 'recompute' or self.old_log_probs == 'auto' and (
            isinstance(optim_wrapper, AutocastOptimWrapper) or self.sampler.truncates)
        log: Dict[str, Tensor] = {}
        cond, cond_mask = self.encode_conditions(data['cond'])
        uniforms, orders = self.sample_draws(data, len(cond))
        cond = cond.repeat_interleave(G, 0)
        cond_mask = None if cond_mask is None else cond_mask.repeat_interleave(G, 0)
        prompts = [p for p in data['prompt'] for _ in range(G)]
        tokens, old_lp, images, components = self._sample_and_score(cond, cond_mask, uniforms, prompts,
                                                                    precision, log)
        rewards = self.reward.combine(components)
        MessageHub.get_current_instance().update_info('rollout_images', images.cpu(), resumed=False)

        bad = [name for name, value in components.items() if not torch.isfinite(value).all()]
        if self._nonfinite(f'reward component {", ".join(bad) or "(on another rank)"}', bool(bad)):
            return dict(log, skipped=torch.tensor(1.0))
        everything = {name: self._gather(value) for name, value in components.items()}
        everything['reward'] = self._gather(rewards)
        for name, value in everything.items():
            log.update({f'{name}_mean': value.mean(), f'{name}_std': value.std(),
                        f'{name}_min': value.min(), f'{name}_max': value.max()})
        informative = ~algo.uniform_groups(everything['reward'])
        log['uniform_group_frac'] = 1 - informative.float().mean()
        sample_weight = None
        if algo.drop_uniform_groups:
            if not informative.any():
                return dict(log, skipped=torch.tensor(1.0))
            sample_weight = (~algo.uniform_groups(rewards)).float().repeat_interleave(G) / informative.float().mean()

        with timed(log, 'time_update'):
            minibatches = self.minibatch_indices(orders)
            with precision:
                if recompute:
                    old_lp = self.score_tokens(self.policy, tokens, cond, cond_mask, minibatches[0])
                ref_lp = self.score_reference(tokens, cond, cond_mask, minibatches[0])
            experience = dict(tokens=tokens, cond=cond, cond_mask=cond_mask, old_log_probs=old_lp,
                              advantages=self._advantages(rewards, components, everything, log),
                              ref_log_probs=ref_lp, sample_weight=sample_weight, **self._token_credit(tokens, log))
            stats = self._update(experience, minibatches, optim_wrapper, module)
        if stats is None:
            return dict(log, skipped=torch.tensor(1.0))
        return dict(log, **stats, skipped=torch.tensor(0.0))

    def _advantages(self, rewards: Tensor, components: Dict[str, Tensor], everything: Dict[str, Tensor],
                    log: Dict[str, Tensor]) -> Tensor:
        """The advantages of this process's samples: of the combined reward; with the algorithm's
        ``component_norm``, the sum of each reward part's weighted advantage (``reward.parts``), each
        part's share logged as ``adv_<name>``: the mean ``|weight * advantage|`` over all processes."""
        algo = self.algorithm
        if not algo.component_norm:
            return algo.advantages(rewards, everything['reward'].std())
        parts = self.reward.parts(components)
        gathered = {name: (weight, self._gather(values)) for name, (weight, values) in parts.items()}
        stds = {name: values.std() for name, (_, values) in gathered.items()}
        for name, advantage in algo.component_advantages(gathered, stds).items():
            log[f'adv_{name}'] = advantage.abs().mean()
        return sum(algo.component_advantages(parts, stds).values())

    @torch.no_grad()
    def _token_credit(self, tokens: Tensor, log: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """With the algorithm's ``token_credit``: ``token_weight`` [B * G, L] of the experience from
        the agreement of each group's tokens (codebook vectors from the VQ tokenizer), the means of
        agreement and weight logged (``token_agreement``, ``token_weight``); else nothing."""
        credit = self.algorithm.token_credit
        if credit is None:
            return {}
        codebook = self.tokenizer.quantize.codebook() if credit.match == 'codebook' else None
        agreement = credit.agreement(tokens, self.algorithm.group_size, codebook)
        weight = credit.weights(agreement)
        means = torch.stack([agreement.mean(), weight.mean()])
        if get_world_size() > 1:
            all_reduce(means, op='mean')
        log.update(token_agreement=means[0], token_weight=means[1])
        return dict(token_weight=weight)

    def _sample_and_score(self, cond: Tensor, cond_mask: Optional[Tensor], uniforms: Tensor, prompts: List[str],
                          precision: contextlib.AbstractContextManager, log: Dict[str, Tensor]):
        """Rollout, VQ decoding and reward components, chunk by chunk (``rollout_chunk``). With
        ``overlap_reward`` and a per-sample reward, chunk k is scored in a worker thread while
        chunk k+1 is sampled (a reward service, or a reward on another device, then costs only
        what outlasts sampling); otherwise the whole batch is scored after the rollout. Logs the
        seconds of sampling, decoding, and reward (with overlap: the wait after sampling).
        Returns tokens, their log-probs, the first ``keep_images`` images and the components."""
        overlap = self.overlap_reward and self.reward.per_sample and len(self.chunks(len(cond))) > 1
        parts, kept, pending = [], [], []
        seconds = dict(time_rollout=0.0, time_decode=0.0)
        with ThreadPoolExecutor(1) as pool:
            for s in self.chunks(len(cond)):
                start = time.perf_counter()
                with precision:
                    tokens, log_probs = self.rollout(cond[s], None if cond_mask is None else cond_mask[s],
                                                     uniforms=uniforms[s])
                middle = time.perf_counter()
                images = self.decode(tokens)
                seconds['time_rollout'] += middle - start
                seconds['time_decode'] += time.perf_counter() - middle
                parts.append((tokens, log_probs, images))
                kept.append(images[:self.keep_images - sum(len(k) for k in kept)])
                if overlap:
                    pending.append(pool.submit(self.reward.components, images, prompts[s]))
            with timed(log, 'time_reward'):
                if overlap:
                    chunks = [future.result() for future in pending]
                    components = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
                else:
                    components = self.reward.components(torch.cat([p[2] for p in parts]), prompts)
        log.update({key: torch.tensor(value) for key, value in seconds.items()})
        return (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), torch.cat(kept), components)

    def _update(self, experience: Dict[str, Optional[Tensor]], minibatches: List[List[Tensor]],
                optim_wrapper: OptimWrapper, module: nn.Module) -> Optional[Dict[str, Tensor]]:
        """One update per minibatch of each epoch, the policy in eval mode (no dropout); the
        statistics averaged over updates and processes (``*_max``: their maximum), or None when
        a non-finite loss skipped the step."""
        self.policy.eval()
        stats: Dict[str, List[Tensor]] = {}
        for epoch in minibatches:
            for idx in epoch:
                minibatch = {key: None if value is None else value[idx] for key, value in experience.items()}
                with optim_wrapper.optim_context(module):
                    out = module(mode='loss', **minibatch)
                if self._nonfinite('the loss', not torch.isfinite(out['loss']).item()):
                    optim_wrapper.zero_grad()
                    return None
                optim_wrapper.update_params(out['loss'])
                for key, value in out.items():
                    stats.setdefault(key, []).append(value.detach())
        result = {key: torch.stack(values).amax() if key.endswith('_max') else torch.stack(values).mean()
                  for key, values in stats.items()}
        result['onpolicy_log_ratio_max'] = stats['log_ratio_max'][0]
        if get_world_size() > 1:
            for key, value in result.items():
                all_reduce(value, op='max' if key.endswith('_max') else 'mean')
        return result
