"""The composite reward: a weighted sum whose parts are logged one by one."""
from typing import Dict, Sequence, Tuple

import torch
from torch import Tensor, nn

from argrpo.registry import REWARDS
from .base import BaseReward


@REWARDS.register_module()
class WeightedSum(BaseReward):
    """``sum_i weight_i * reward_i``.

    Args:
        rewards: reward configs, each with an extra ``weight`` (default 1.0); their ``name``
            keys the logged components and must be unique.
    """

    def __init__(self, rewards: Sequence[dict], name: str = 'reward'):
        super().__init__(name)
        built, weights = [], {}
        for cfg in rewards:
            cfg = dict(cfg)
            weight = float(cfg.pop('weight', 1.0))
            reward = REWARDS.build(cfg)
            if reward.name in weights:
                raise ValueError(f'two rewards are named {reward.name!r}: give each a unique name=')
            weights[reward.name] = weight
            built.append(reward)
        if not built:
            raise ValueError('WeightedSum needs at least one reward')
        self.rewards = nn.ModuleList(built)
        self.weights = weights
        self.per_sample = all(reward.per_sample for reward in built)

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        out = {}
        for reward in self.rewards:
            out.update(reward.components(images, prompts))
        return out

    def combine(self, components: Dict[str, Tensor]) -> Tensor:
        return sum(self.weights[reward.name] * reward.combine(components) for reward in self.rewards)

    def parts(self, components: Dict[str, Tensor]) -> Dict[str, Tuple[float, Tensor]]:
        """The parts of every reward, their weights times this sum's weight of the reward (a
        ``WeightedSum`` inside a ``WeightedSum`` gives its own parts, not one)."""
        out = {}
        for reward in self.rewards:
            for name, (weight, values) in reward.parts(components).items():
                out[name] = (self.weights[reward.name] * weight, values)
        return out
