"""How different the samples of one prompt are from each other: a collapse detector (reward
optimisation tends to shrink diversity before quality metrics notice)."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from argrpo.registry import FEATURE_EXTRACTORS, METRICS


@METRICS.register_module()
class DiversityMetric(BaseMetric):
    """Mean pairwise cosine distance between the features of samples sharing a prompt, averaged
    over prompts: 0 when every prompt always gives the same image."""

    default_prefix = None

    def __init__(self, feature_extractor: dict, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.extractor = FEATURE_EXTRACTORS.build(feature_extractor).eval()

    @torch.no_grad()
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        images = torch.stack([sample['image'] for sample in data_samples])
        self.extractor.to(images.device)
        features = self.extractor(images)['pool'].float().cpu().numpy()
        self.results.extend(dict(prompt=s['prompt'], feature=f) for s, f in zip(data_samples, features))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        groups = defaultdict(list)
        for r in results:
            groups[r['prompt']].append(r['feature'])
        distances = []
        for features in groups.values():
            if len(features) < 2:
                continue
            f = np.stack(features).astype(np.float64)
            f /= np.linalg.norm(f, axis=1, keepdims=True).clip(min=1e-12)
            n = len(f)
            distances.append((n * n - (f @ f.T).sum()) / (n * (n - 1)))  # off-diagonal mean of 1 - cos
        if not distances:
            raise ValueError('diversity needs at least two samples of some prompt')
        return dict(diversity=float(np.mean(distances)))
