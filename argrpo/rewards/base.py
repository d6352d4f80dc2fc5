"""The interface every reward follows, and the image preparation they share.

A reward scores decoded images (``[N, 3, H, W]`` in [-1, 1], any resolution) against their
prompts (``N`` strings) and returns ``[N]``. It is frozen: no gradient, eval mode, its own
preprocessing. ``components`` names what it computed, so that a composite can log each part.
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BaseReward(nn.Module):

    def __init__(self, name: Optional[str] = None):
        super().__init__()
        self.name = name or type(self).__name__

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        raise NotImplementedError

    def freeze(self) -> 'BaseReward':
        self.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> 'BaseReward':
        return super().train(False)  # reward models never leave eval mode

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        return {self.name: self.score(images, prompts).float()}

    def combine(self, components: Dict[str, Tensor]) -> Tensor:
        return components[self.name]

    def forward(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        return self.combine(self.components(images, prompts))


def prepare_images(images: Tensor, size: int, mean: Sequence[float], std: Sequence[float],
                   center_crop: bool = True) -> Tensor:
    """[-1, 1] -> [0, 1], shorter side resized (bicubic) to ``size``, centre-cropped to a square,
    normalised by ``mean`` / ``std`` (the CLIP recipe)."""
    x = ((images.float() + 1) / 2).clamp(0, 1)
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(max(size, round(h * scale)), max(size, round(w * scale))),
                          mode='bicubic', align_corners=False, antialias=scale < 1).clamp(0, 1)
    if center_crop:
        top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
        x = x[..., top:top + size, left:left + size]
    mean_t = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - mean_t) / std_t
