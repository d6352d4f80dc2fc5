"""Any reward of training as an evaluation metric: mean, std and standard error of the mean of
each component over the evaluation set (CLIP score, HPSv2, MANIQA, ... on the samples, as the
AR-GRPO tables report)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from argrpo.registry import METRICS, REWARDS
from argrpo.utils import frozen


@METRICS.register_module()
class RewardMetric(BaseMetric):
    """``reward``: a REWARDS config (a single reward or a ``WeightedSum``, whose components and
    total are all reported as ``<prefix>/<name>_mean``, ``_std`` and ``_sem``: the population std,
    and the standard error ``std / sqrt(n - 1)`` of the mean over the ``n`` samples).
    ``keys``: report only these of them (e.g. the one score a ``RemoteReward`` repeats under the
    served name and its own); None: all."""

    default_prefix = 'reward'

    def __init__(self, reward: dict, collect_device: str = 'cpu', prefix: Optional[str] = None,
                 keys: Optional[Sequence[str]] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.reward = frozen(REWARDS.build(reward))
        self.keys = None if keys is None else list(keys)

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
        names = list(results[0]) if self.keys is None else self.keys
        missing = [name for name in names if name not in results[0]]
        if missing:
            raise KeyError(f'RewardMetric keys {missing} are not among the reward\'s {sorted(results[0])}')
        out = {}
        for name in names:
            values = np.array([r[name] for r in results], dtype=np.float64)
            std = float(values.std())
            out[f'{name}_mean'], out[f'{name}_std'] = float(values.mean()), std
            out[f'{name}_sem'] = float(std / np.sqrt(len(values) - 1)) if len(values) > 1 else float('nan')
        return out
