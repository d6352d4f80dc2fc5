"""Training of a LlamaGen VQ tokenizer (the demo's first stage)."""
from typing import Dict, Optional

import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from argrpo.registry import MODELS, TOKENIZERS


@MODELS.register_module()
class VQTokenizerTrainer(BaseModel):
    """Pixel reconstruction (L1 + MSE) plus the quantizer's codebook and commitment losses.
    LlamaGen adds perceptual and adversarial losses for natural images; the demo's flat-coloured
    world does not need them. The trained tokenizer is exported in LlamaGen's file format
    (``ExportWeightsHook``)."""

    def __init__(self, tokenizer: dict, l1_weight: float = 1.0, l2_weight: float = 1.0,
                 data_preprocessor: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.tokenizer = TOKENIZERS.build(tokenizer)
        self.l1_weight, self.l2_weight = l1_weight, l2_weight

    def forward(self, image: Tensor, mode: str = 'loss', **unused) -> Dict[str, Tensor]:
        recon, losses = self.tokenizer(image)
        losses['loss_l1'] = self.l1_weight * F.l1_loss(recon, image)
        losses['loss_l2'] = self.l2_weight * F.mse_loss(recon, image)
        return losses
