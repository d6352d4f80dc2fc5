"""Contrastive training of an open_clip model on (image, caption) pairs: the world's CLIP, so that
the demo's CLIP reward and text encoder run through the real open_clip path."""
from typing import Dict, Optional, Sequence

import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from argrpo.registry import MODELS
from argrpo.utils import create_open_clip, open_clip_input, prepare_images


@MODELS.register_module()
class CLIPTrainer(BaseModel):
    """open_clip's own model classes and ``ClipLoss`` (symmetric InfoNCE, learned temperature)."""

    def __init__(self, arch: str = 'ShapesCLIP-Tiny', data_preprocessor: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor)
        import open_clip
        self.model = create_open_clip(arch)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.loss = open_clip.loss.ClipLoss()
        self.image_size, self.mean, self.std = open_clip_input(self.model)

    def forward(self, image: Tensor, prompt: Sequence[str], mode: str = 'loss', **unused) -> Dict[str, Tensor]:
        pixels = prepare_images(image, self.image_size, self.mean, self.std)
        image_features = F.normalize(self.model.encode_image(pixels), dim=-1)
        text_features = F.normalize(self.model.encode_text(self.tokenizer(list(prompt)).to(image.device)), dim=-1)
        return dict(loss_clip=self.loss(image_features, text_features, self.model.logit_scale.exp()))
