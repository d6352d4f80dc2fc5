"""Any reward of training as an evaluation metric: mean and std of each component over the
evaluation set (CLIP score, HPSv2, MANIQA, ... on the samples, as the AR-GRPO tables report)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from argrpo.registry import METRICS, REWARDS
from argrpo.utils import frozen


@METRICS.register_module()
class RewardMetric(BaseMetric):
    """``reward``: a REWARDS config (a single reward or a ``WeightedSum``, whose components and
    total are all reported as ``<prefix>/<name>_mean`` and ``_std``)."""

    default_prefix = 'reward'

    def __init__(self, reward: dict, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.reward = frozen(REWARDS.build(reward))

    @torch.no_grad()
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        images = torch.stack([sample['image'] for sample in data_samples])
        self.reward.to(images.device)
        components = self.reward.components(images, [sample['prompt'] for sample in data_samples])
        if len(components) > 1:
            components['total'] = self.reward.combine(components)
        for i in range(len(images)):
            self.results.append({name: value[i].item() for name, value in components.items()})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        out = {}
        for name in results[0]:
            values = np.array([r[name] for r in results], dtype=np.float64)
            out[f'{name}_mean'], out[f'{name}_std'] = float(values.mean()), float(values.std())
        return out
