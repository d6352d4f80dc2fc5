"""The MMEngine model of sampling an AR image generator: conditions -> tokens -> images.

One generation path for everything that makes images: evaluation (``val_step`` / ``test_step``,
MMEngine's 'predict' mode), ``tools/sample.py``, and the rollouts of ``ARGRPOModel``, which
extends it with training.
"""
from itertools import chain
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

from argrpo.registry import GENERATORS, MODELS, SAMPLERS, TOKENIZERS
from argrpo.utils import frozen, shard_like, whole


@MODELS.register_module()
class ARGenerationModel(BaseModel):
    """
    Args:
        generator: the generator's config (weights from its ``checkpoint``), held as ``policy``.
        tokenizer: the VQ tokenizer (frozen). text_encoder: for text-to-image (frozen).
        sampler: the decoding strategy.
        eval_sampler: the decoding strategy of evaluation (``val_step`` / ``test_step``);
            default: ``sampler``.
        eval_seed: evaluation sample ``i`` draws its randomness from seed ``eval_seed + i``.
        rollout_chunk: samples per ``generator.sample`` / VQ decode call (memory); None: all.
        decoder: the decode step of sampling (``ARImageGenerator.sample``): 'auto' (compiled with
            static shapes on CUDA, the eager oneDNN path on CPU), 'dynamic', 'static', 'compiled'.
    """

    # frozen parts read from their own files (subclasses add theirs): left out of checkpoints
    file_weights: Tuple[str, ...] = ('tokenizer', 'text_encoder')

    def __init__(self, generator: dict, tokenizer: dict, sampler: dict, text_encoder: Optional[dict] = None,
                 eval_sampler: Optional[dict] = None, eval_seed: int = 0, rollout_chunk: Optional[int] = None,
                 decoder: str = 'auto', data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.policy = GENERATORS.build(generator)
        self.policy_from_file = generator.get('checkpoint') is not None
        self.tokenizer = frozen(TOKENIZERS.build(tokenizer))
        self.text_encoder = frozen(TOKENIZERS.build(text_encoder)) if text_encoder else None
        self.sampler = SAMPLERS.build(sampler)
        self.eval_sampler = SAMPLERS.build(eval_sampler) if eval_sampler else self.sampler
        self.eval_seed, self.rollout_chunk = eval_seed, rollout_chunk
        self.policy.decode_path(decoder, torch.device('cpu'))  # a value the generator cannot serve fails here
        self.decoder = decoder
        self._register_state_dict_hook(self._checkpoint_state)
        self._register_load_state_dict_pre_hook(self._restore_state)

    def from_files(self) -> List[str]:
        """State-dict keys read from their own files, left out of checkpoints: the
        ``file_weights`` parts and the policy's frozen parameters (the base weights under LoRA,
        from the generator's ``checkpoint``, when it has one). One exception: the buffers that a module of a
        ``file_weights`` part names in its ``checkpointed_buffers`` are state that training
        changes (a reward's running statistics), checkpointed like the policy."""
        keys = []
        for name in self.file_weights:
            part = getattr(self, name)
            if part is not None:
                kept = {f'{path}.{buffer}' if path else buffer
                        for path, module in part.named_modules(remove_duplicate=False)
                        for buffer in getattr(module, 'checkpointed_buffers', ())}
                keys += [f'{name}.{key}' for key in part.state_dict(keep_vars=True) if key not in kept]
        frozen = [f'policy.{name}' for name, p in self.policy.named_parameters() if not p.requires_grad]
        return keys + (frozen if self.policy_from_file else [])

    @staticmethod
    def _checkpoint_state(module, state_dict, prefix, local_metadata):
        """Checkpoints hold what training changes, whole: weights read from files are left out
        (not gigabytes of frozen encoders and reward models), parameters sharded across
        processes (FSDP's DTensors) are gathered, every process taking part."""
        for key in module.from_files():
            state_dict.pop(prefix + key, None)
        for key, value in state_dict.items():
            state_dict[key] = whole(value)
        return state_dict

    def _restore_state(self, state_dict, prefix, *args) -> None:
        """Loading a checkpoint keeps the weights read from files, and shards whole tensors
        where the parameter is sharded (FSDP)."""
        # every name of a module reachable twice (an open_clip model two rewards share), as state_dict has
        own = dict(chain(self.named_parameters(remove_duplicate=False), self.named_buffers(remove_duplicate=False)))
        for key in self.from_files():
            state_dict.setdefault(prefix + key, own[key])
        for key, value in state_dict.items():
            if key[len(prefix):] in own:
                state_dict[key] = shard_like(value, own[key[len(prefix):]])

    @property
    def device(self) -> torch.device:
        return next(self.policy.parameters()).device

    def chunks(self, n: int) -> List[slice]:
        """``n`` items in slices of ``rollout_chunk`` (None: one slice)."""
        size = self.rollout_chunk or n
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    # ---- the generation path ----------------------------------------------------------------
    @torch.no_grad()
    def encode_conditions(self, conds: Sequence) -> Tuple[Tensor, Optional[Tensor]]:
        """Class ids -> LongTensor [B]; captions -> (features [B, T, C], mask [B, T])."""
        if self.text_encoder is not None:
            return self.text_encoder(list(conds))
        if any(isinstance(c, str) for c in conds):
            raise ValueError('captions as conditions need a model.text_encoder in the config')
        return torch.as_tensor(list(conds), dtype=torch.long, device=self.device), None

    @torch.no_grad()
    def rollout(self, cond: Tensor, cond_mask: Optional[Tensor], sampler=None,
                generator: Optional[torch.Generator] = None,
                uniforms: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Tokens [B, L] and their log-probs [B, L], drawn in eval mode by ``sampler`` (default
        ``self.sampler``) with random numbers from ``generator`` or ``uniforms`` [B, L]."""
        self.policy.eval()
        outs = [self.policy.sample(cond[s], sampler or self.sampler, None if cond_mask is None else cond_mask[s],
                                   generator=generator, uniforms=None if uniforms is None else uniforms[s],
                                   decode=self.decoder)
                for s in self.chunks(len(cond))]
        return torch.cat([o.tokens for o in outs]), torch.cat([o.log_probs for o in outs])

    @torch.no_grad()
    def decode(self, tokens: Tensor) -> Tensor:
        """Images [B, 3, H, W] in [-1, 1]."""
        return torch.cat([self.tokenizer.decode(tokens[s]) for s in self.chunks(len(tokens))])

    @torch.no_grad()
    def generate(self, conds: Sequence, sampler=None, generator: Optional[torch.Generator] = None,
                 uniforms: Optional[Tensor] = None) -> Tensor:
        """Conditions (class ids or captions) -> images [B, 3, H, W] in [-1, 1]."""
        cond, cond_mask = self.encode_conditions(conds)
        tokens, _ = self.rollout(cond, cond_mask, sampler, generator, uniforms)
        return self.decode(tokens)

    # ---- MMEngine's modes -------------------------------------------------------------------
    def forward(self, mode: str = 'tensor', **inputs) -> Union[Dict[str, Tensor], List[dict], Tuple[Tensor, Tensor]]:
        """'predict': ``predict(cond, prompt, index)``, one sample per evaluation item;
        'tensor': ``log_prob(tokens, cond, cond_mask)``, the policy's teacher-forced log-probs and
        entropies; 'loss': ``loss(...)``, for models that train."""
        if mode == 'predict':
            return self.predict(**inputs)
        if mode == 'tensor':
            return self.log_prob(**inputs)
        if mode == 'loss':
            return self.loss(**inputs)
        raise ValueError(f"mode is 'loss', 'predict' or 'tensor', got {mode!r}")

    def log_prob(self, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Log-probs and entropies [B, L] of ``tokens`` under ``sampler``; differentiable."""
        return self.policy.log_prob(tokens, cond, self.sampler, cond_mask, entropy='differentiable')

    def loss(self, **inputs: Any) -> Dict[str, Tensor]:
        raise NotImplementedError(f'{type(self).__name__} generates; it has no training loss')

    @torch.no_grad()
    def predict(self, cond: Sequence, prompt: Sequence[str], index: Sequence[int], **unused) -> List[dict]:
        """One image per evaluation item with ``eval_sampler``; item ``i`` draws from its own seed,
        so the samples do not depend on batch size or on how the evaluation set is sharded."""
        uniforms = torch.stack([torch.rand(self.policy.block_size, dtype=torch.float64,
                                           generator=torch.Generator().manual_seed(self.eval_seed + int(i)))
                                for i in index]).to(self.device)
        images = self.generate(cond, self.eval_sampler, uniforms=uniforms)
        return [dict(image=image, prompt=p, index=int(i)) for image, p, i in zip(images, prompt, index)]
