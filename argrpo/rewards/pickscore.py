"""PickScore: a CLIP-H fine-tuned on Pick-a-Pic preferences, in transformers' format.

The score is PickScore's own: ``logit_scale.exp() * cos(image, text)`` (about 20 to 23 for
typical images, 100 x the cosine). Images are prepared on their device as the processor's
configuration says (input size, mean, std), without a round trip through PIL.
"""
import os.path as osp
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from argrpo.registry import REWARDS
from argrpo.utils import prepare_images, require_file
from .base import BaseReward

HOW_TO_GET = ('On a machine with internet: `huggingface-cli download yuvalkirstain/PickScore_v1 --local-dir '
              'checkpoints/PickScore_v1` (the model) and `huggingface-cli download '
              'laion/CLIP-ViT-H-14-laion2B-s32B-b79K --local-dir checkpoints/CLIP-ViT-H-14-laion2B-s32B-b79K` '
              '(its processor: tokenizer and image settings), then copy both directories to this machine.')


def _side(size) -> int:
    """The side of a processor's square crop (a dict or SizeDict with height, or an int)."""
    return size if isinstance(size, int) else int(size['height'])


@REWARDS.register_module()
class PickScore(BaseReward):
    """PickScore_v1 from local directories.

    Args:
        path: the model's directory (``config.json`` and weights, as ``CLIPModel.save_pretrained``
            writes them: PickScore_v1's hub repository).
        processor: the processor's directory (PickScore uses laion/CLIP-ViT-H-14-laion2B-s32B-b79K's);
            None: ``path`` itself, when it holds one.
        max_length: prompts are cut to this many tokens (CLIP's 77).
        scale: multiplies the score (1: PickScore's own numbers).
    """

    def __init__(self, path: Optional[str] = None, processor: Optional[str] = None, max_length: int = 77,
                 scale: float = 1.0, name: Optional[str] = None):
        super().__init__(name or 'pickscore')
        from transformers import AutoProcessor, CLIPModel
        require_file(path and osp.join(path, 'config.json'), 'PickScore model (a CLIPModel directory)', HOW_TO_GET)
        processor = processor or path
        require_file(osp.join(processor, 'tokenizer_config.json'), 'PickScore processor (a CLIPProcessor directory)',
                     HOW_TO_GET)
        self.model = CLIPModel.from_pretrained(path, local_files_only=True)
        loaded = AutoProcessor.from_pretrained(processor, local_files_only=True)
        self.tokenizer, images = loaded.tokenizer, loaded.image_processor
        self.image_size, self.mean, self.std = _side(images.crop_size), images.image_mean, images.image_std
        self.max_length, self.scale = max_length, scale
        self.freeze()

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    def image_features(self, images: Tensor) -> Tensor:
        """Unit-norm image embeddings [B, D] of images in [-1, 1]."""
        pixels = prepare_images(images.to(self.device), self.image_size, self.mean, self.std)
        pooled = self.model.vision_model(pixel_values=pixels).pooler_output
        return F.normalize(self.model.visual_projection(pooled).float(), dim=-1)

    def text_features(self, texts: Sequence[str]) -> Tensor:
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                return_tensors='pt').to(self.device)
        pooled = self.model.text_model(input_ids=tokens['input_ids'],
                                       attention_mask=tokens['attention_mask']).pooler_output
        return F.normalize(self.model.text_projection(pooled).float(), dim=-1)

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        cos = (self.image_features(images) * self.text_features(prompts)).sum(-1)
        return self.scale * self.model.logit_scale.exp().float() * cos
