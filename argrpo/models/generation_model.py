"""The MMEngine model of sampling an AR image generator: conditions -> tokens -> images.

One generation path for everything that makes images: evaluation (``val_step`` / ``test_step``,
MMEngine's 'predict' mode), ``tools/sample.py``, and the rollouts of ``ARGRPOModel``, which
extends it with training.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

from argrpo.registry import GENERATORS, MODELS, SAMPLERS, TOKENIZERS
from argrpo.utils import frozen


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
    """

    # frozen parts read from their own files (subclasses add theirs): left out of checkpoints
    file_weights: Tuple[str, ...] = ('tokenizer', 'text_encoder')

    def __init__(self, generator: dict, tokenizer: dict, sampler: dict, text_encoder: Optional[dict] = None,
                 eval_sampler: Optional[dict] = None, eval_seed: int = 0, rollout_chunk: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.policy = GENERATORS.build(generator)
        self.tokenizer = frozen(TOKENIZERS.build(tokenizer))
        self.text_encoder = frozen(TOKENIZERS.build(text_encoder)) if text_encoder else None
        self.sampler = SAMPLERS.build(sampler)
        self.eval_sampler = SAMPLERS.build(eval_sampler) if eval_sampler else self.sampler
        self.eval_seed, self.rollout_chunk = eval_seed, rollout_chunk
        self._register_state_dict_hook(self._without_file_weights)
        self._register_load_state_dict_pre_hook(self._keep_file_weights)

    @staticmethod
    def _without_file_weights(module, state_dict, prefix, local_metadata):
        for key in [k for k in state_dict if k[len(prefix):].split('.')[0] in module.file_weights]:
            del state_dict[key]
        return state_dict

    def _keep_file_weights(self, state_dict, prefix, *args) -> None:
        """Loading a checkpoint keeps the weights read from their own files (checkpoints hold
        what training changes, not gigabytes of frozen encoders and reward models)."""
        for name in self.file_weights:
            module = getattr(self, name)
            if module is not None:
                for key, value in module.state_dict(keep_vars=True).items():
                    state_dict.setdefault(f'{prefix}{name}.{key}', value)

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
                                   generator=generator, uniforms=None if uniforms is None else uniforms[s])
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
        return self.policy.log_prob(tokens, cond, self.sampler, cond_mask, with_entropy=True)

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
