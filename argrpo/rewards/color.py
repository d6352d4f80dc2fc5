"""A reward with a known optimum, computed from decoded pixels: how well the image follows a
colour gradient (red rising left to right, blue falling). For tests, benchmarks and CPU demos
that must show GRPO learning whatever the tokenizer's weights."""
import time
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from argrpo.registry import REWARDS
from .base import BaseReward


@REWARDS.register_module()
class GradientReward(BaseReward):
    """Cosine similarity (1 is the best) between the image and the target gradient, both with
    their per-channel means removed, so the score reads structure, not overall brightness.
    ``latency``: seconds to wait per image, standing in for a heavy reward model in benchmarks."""

    def __init__(self, weights: Sequence[float] = (1.0, 0.0, -1.0), latency: float = 0.0,
                 name: Optional[str] = None):
        super().__init__(name or 'gradient')
        self.register_buffer('weights', torch.tensor(weights, dtype=torch.float32))
        self.latency = latency

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        time.sleep(self.latency * len(images))
        x = images.float()
        ramp = torch.linspace(-1, 1, x.shape[-1], device=x.device)
        target = (self.weights.to(x.device)[:, None, None] * ramp).expand(x.shape[1:])
        x = x - x.mean((-2, -1), keepdim=True)
        target = target - target.mean((-2, -1), keepdim=True)
        return F.cosine_similarity(x.flatten(1), target.flatten()[None], dim=1)
