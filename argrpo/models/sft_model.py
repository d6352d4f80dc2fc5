"""The supervised stage before RL: next-token cross-entropy on the VQ tokens of real images."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from argrpo.registry import GENERATORS, MODELS, TOKENIZERS
from argrpo.utils import frozen


@MODELS.register_module()
class ARSFTModel(BaseModel):
    """LlamaGen's pre-training objective. As in LlamaGen, a sample's condition is replaced by the
    null condition (the null class, or the learned empty caption) with the generator's own
    ``class_dropout_prob``, which teaches the unconditional model that classifier-free guidance
    needs.

    Args:
        generator: the GPT to train. tokenizer: the frozen VQ tokenizer (from its file).
        text_encoder: for text-to-image, the frozen caption encoder.
    """

    def __init__(self, generator: dict, tokenizer: dict, text_encoder: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.generator = GENERATORS.build(generator)
        self.tokenizer = frozen(TOKENIZERS.build(tokenizer))
        self.text_encoder = frozen(TOKENIZERS.build(text_encoder)) if text_encoder else None

    def forward(self, image: Tensor, label: Optional[Tensor] = None, prompt: Optional[Sequence[str]] = None,
                mode: str = 'loss', **unused) -> Dict[str, Tensor]:
        with torch.no_grad():
            tokens = self.tokenizer.encode(image)
            cond, mask = self.text_encoder(prompt) if self.text_encoder is not None else (label, None)
        rate = self.generator.class_dropout_prob
        if rate > 0:  # without it a c2i GPT has no null class
            drop = torch.rand(len(tokens), device=tokens.device) < rate
            cond = torch.where(drop.view(-1, *[1] * (cond.dim() - 1)), self.generator.null_condition(cond), cond)
        logits = self.generator(tokens, cond, mask)
        return dict(loss_ce=F.cross_entropy(logits.flatten(0, 1), tokens.flatten()))
