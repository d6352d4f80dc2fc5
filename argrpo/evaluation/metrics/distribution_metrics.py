"""FID, sFID, Inception Score, precision / recall and diversity of generated images, in one pass
of the feature extractor (they share it)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from argrpo.registry import FEATURE_EXTRACTORS, METRICS
from ..functional import feature_statistics, frechet_distance, group_diversity, inception_score, precision_recall
from ..reference import Reference, load_reference

NEEDS = dict(fid='pool', sfid='spatial', IS='logits', precision='pool', recall='pool', diversity='pool')
NO_REFERENCE = {'IS', 'diversity'}


@METRICS.register_module()
class DistributionMetrics(BaseMetric):
    """Distances between generated and real image distributions, as the ADM evaluator computes
    them (see ``functional``): ``FID`` (Heusel et al. 2017), ``sFID`` (Nash et al. 2021), ``IS``
    (Salimans et al. 2016, with its std over splits), ``precision`` / ``recall``
    (Kynkäänniemi et al. 2019), and ``diversity`` (``functional.group_diversity``: how different
    the samples of one prompt are).

    Args:
        feature_extractor: a FEATURE_EXTRACTORS config (``FIDInception`` for the paper's numbers,
            or ``TimmFeatures`` / ``OpenCLIPFeatures``).
        reference: real images or their features / statistics (see ``reference.py``); needed
            by everything but IS and diversity.
        metrics: a subset of ``('fid', 'sfid', 'IS', 'precision', 'recall', 'diversity')``.
        cache_dir: where reference features computed from images are cached.
        k: neighbourhood size of the precision / recall manifolds.
        split_size: samples per Inception Score split.
    """

    default_prefix = ''  # metric names as they are (FID, IS, ...): no prefix, no MMEngine warning

    def __init__(self, feature_extractor: dict, reference: Optional[str] = None,
                 metrics: Sequence[str] = ('fid', 'sfid', 'IS', 'precision', 'recall'),
                 cache_dir: Optional[str] = None, k: int = 3, split_size: int = 5000,
                 batch_size: int = 64, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        unknown = set(metrics) - set(NEEDS)
        if unknown:
            raise ValueError(f'unknown metrics {sorted(unknown)}; choose from {list(NEEDS)}')
        self.extractor = FEATURE_EXTRACTORS.build(feature_extractor).eval()
        missing = {m: NEEDS[m] for m in metrics if NEEDS[m] not in self.extractor.outputs}
        if missing:
            raise ValueError(f'{self.extractor.identity} gives {list(self.extractor.outputs)}; '
                             f'{", ".join(f"{m} needs {o!r}" for m, o in missing.items())}')
        if reference is None and set(metrics) - NO_REFERENCE:
            raise ValueError(f'{sorted(set(metrics) - NO_REFERENCE)} need reference= (real images or their statistics)')
        self.metrics, self.reference_path, self.cache_dir = tuple(metrics), reference, cache_dir
        self.k, self.split_size, self.batch_size = k, split_size, batch_size
        self.keep = sorted({NEEDS[m] for m in metrics})

    @torch.no_grad()
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        images = torch.stack([sample['image'] for sample in data_samples])
        self.extractor.to(images.device)
        outputs = self.extractor(images)
        for i, sample in enumerate(data_samples):
            self.results.append({key: outputs[key][i].float().cpu().numpy() for key in self.keep})
            self.results[-1]['prompt'] = sample.get('prompt')

    def reference(self) -> Reference:
        return load_reference(self.reference_path, self.extractor, self.cache_dir, self.batch_size)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        fake = {key: np.stack([r[key] for r in results]) for key in self.keep}
        out: Dict[str, float] = {}
        if 'IS' in self.metrics:
            out['IS'], out['IS_std'] = inception_score(fake['logits'], self.split_size)
        if 'diversity' in self.metrics:
            out['diversity'] = group_diversity(fake['pool'], [r['prompt'] for r in results])
        if not set(self.metrics) - NO_REFERENCE:
            return out
        ref = self.reference()
        checks = [('pool', ref.mu), ('spatial', ref.mu_s)]
        for key, mu in checks:
            if key in fake and mu is not None and mu.shape[-1] != fake[key].shape[-1]:
                raise ValueError(f'reference {self.reference_path} has {mu.shape[-1]}-d {key} '
                                 f'features, {self.extractor.identity} gives {fake[key].shape[-1]}: '
                                 'it was computed with a different feature extractor')
        if 'fid' in self.metrics:
            out['FID'] = frechet_distance(*feature_statistics(fake['pool']), ref.mu, ref.sigma)
        if 'sfid' in self.metrics:
            if ref.mu_s is None:
                raise ValueError(f'reference {self.reference_path} has no spatial statistics for sFID')
            out['sFID'] = frechet_distance(*feature_statistics(fake['spatial']), ref.mu_s, ref.sigma_s)
        if {'precision', 'recall'} & set(self.metrics):
            if ref.pool is None:
                raise ValueError(f'reference {self.reference_path} holds statistics only; precision '
                                 'and recall need the reference features or images')
            precision, recall = precision_recall(ref.pool, fake['pool'], self.k)
            out.update({name: value for name, value in (('precision', precision), ('recall', recall))
                        if name in self.metrics})
        return out
