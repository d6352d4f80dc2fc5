"""The LAION aesthetic predictor v2 (improved-aesthetic-predictor): an MLP on the L2-normalised
CLIP ViT-L/14 image embedding, trained to predict the 1-10 ratings of SAC, LAION-Logos and AVA."""
from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from argrpo.registry import REWARDS
from argrpo.utils import load_open_clip, load_weights, open_clip_input, prepare_images, require_file
from .base import BaseReward


class AestheticMLP(nn.Module):
    """The predictor's head, laid out as its file is (``layers.0/2/4/6/7``): five linear layers
    without activations (dropout between the first four, identity in eval mode)."""

    def __init__(self, in_features: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
            nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1))

    def forward(self, embeddings: Tensor) -> Tensor:
        return self.layers(embeddings).squeeze(-1)


@REWARDS.register_module()
class LAIONAesthetic(BaseReward):
    """``scale * mlp(normalize(clip.encode_image(image)))``: about 1 to 10.

    Args:
        checkpoint: the head, ``sac+logos+ava1-l14-linearMSE.pth`` (a state dict), loaded strictly.
        clip_checkpoint: the open_clip weights of ``arch``; the head was trained on OpenAI's
            CLIP ViT-L/14, whose open_clip architecture is 'ViT-L-14-quickgelu'.
        arch: the open_clip architecture; the head's width is its embedding size.
        scale: multiplies the score.
    """

    how_to_get = ('Download sac+logos+ava1-l14-linearMSE.pth from christophschuhmann/improved-aesthetic-predictor '
                  '(the repository\'s root) to a local file.')
    how_to_get_clip = ('Download open_clip_pytorch_model.bin of timm/vit_large_patch14_clip_224.openai (OpenAI\'s '
                       'CLIP ViT-L/14 in open_clip\'s format) to a local file.')

    def __init__(self, checkpoint: Optional[str] = None, clip_checkpoint: Optional[str] = None,
                 arch: str = 'ViT-L-14-quickgelu', scale: float = 1.0, name: Optional[str] = None):
        super().__init__(name or 'aesthetic')
        require_file(checkpoint, 'LAION aesthetic predictor head', self.how_to_get)  # before CLIP is built
        self.model = load_open_clip(arch, clip_checkpoint, type(self).__name__, self.how_to_get_clip)
        self.image_size, self.mean, self.std = open_clip_input(self.model)
        self.mlp = AestheticMLP(self.model.visual.output_dim)
        load_weights(self.mlp, checkpoint, 'LAION aesthetic predictor head', self.how_to_get)
        self.scale = scale
        self.freeze()

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        device = self.mlp.layers[0].weight.device
        pixels = prepare_images(images.to(device), self.image_size, self.mean, self.std)
        embeddings = F.normalize(self.model.encode_image(pixels).float(), dim=-1)
        return self.scale * self.mlp(embeddings)
