"""A group-level reward: how much each sample adds to the diversity of its own prompt's group.

GRPO's collapse happens within each prompt (every sample of a class settles on one layout), which
a batch-level reward cannot see; this reward compares each sample with the other samples of its
prompt only, in a frozen feature space (DRIFT's and DiverseGRPO's idea, arXiv 2601.12401,
2512.21514).
"""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from argrpo.registry import FEATURE_EXTRACTORS, REWARDS
from .base import BaseReward

STATISTICS = ('distance', 'logdet', 'cluster')


def prompt_groups(prompts: Sequence[str]) -> List[np.ndarray]:
    """The indices of each distinct prompt's samples, in order of first appearance."""
    groups: Dict[str, List[int]] = {}
    for i, prompt in enumerate(prompts):
        groups.setdefault(prompt, []).append(i)
    return [np.asarray(indices) for indices in groups.values()]


def pairwise_distances(features: np.ndarray) -> np.ndarray:
    """Euclidean distances [n, n] of features [n, D] (float64, exact zeros on the diagonal)."""
    diff = features[:, None, :] - features[None, :, :]
    return np.sqrt((diff ** 2).sum(-1))


def distance_gain(dist: np.ndarray) -> np.ndarray:
    """Leave-one-out gain of the mean pairwise distance: ``D(S) - D(S without i)`` for each
    sample ``i`` of a group of ``n >= 3`` (distances [n, n])."""
    n = len(dist)
    total, rows = dist.sum() / 2, dist.sum(1)
    return total / (n * (n - 1) / 2) - (total - rows) / ((n - 1) * (n - 2) / 2)


def kernel_matrix(dist: np.ndarray, bandwidth: Union[str, float], jitter: float) -> np.ndarray:
    """The group's RBF kernel ``exp(-d^2 / (2 s^2)) + jitter * I``; ``s`` = ``bandwidth``, or with
    'median' the median distance between distinct samples of the group (1 if they all coincide)."""
    if bandwidth == 'median':
        off = dist[~np.eye(len(dist), dtype=bool)]
        scale = float(np.median(off)) if off.size else 0.0
        scale = scale if scale > 0 else 1.0
    else:
        scale = float(bandwidth)
    return np.exp(-dist ** 2 / (2 * scale ** 2)) + jitter * np.eye(len(dist))


def logdet_gain(kernel: np.ndarray) -> np.ndarray:
    """Leave-one-out gain of the log-determinant: ``log det K - log det K_{-i}`` for each sample,
    which is ``-log (K^-1)_ii``, the log of the sample's variance in the kernel's feature space
    left once the others are known (0 with jitter 0 for a sample unlike every other, very
    negative for a near-duplicate)."""
    return -np.log(np.diag(np.linalg.inv(kernel)))


def cluster_sizes(dist: np.ndarray, radius: float) -> np.ndarray:
    """The size of each sample's cluster: the connected components of the graph linking samples
    closer than ``radius`` (single linkage)."""
    n = len(dist)
    labels = -np.ones(n, dtype=int)
    for start in range(n):
        if labels[start] >= 0:
            continue
        labels[start], frontier = start, [start]
        while frontier:
            linked = np.flatnonzero((dist[frontier].min(0) < radius) & (labels < 0))
            labels[linked] = start
            frontier = list(linked)
    return np.bincount(labels, minlength=n)[labels]


@REWARDS.register_module()
class GroupDiversity(BaseReward):
    """Each sample's gain in the diversity of its own prompt's group, in the ``pool`` features
    of a frozen ``feature_extractor``: a group-level reward (``per_sample`` False) whose groups are
    the samples of one prompt (equal prompt strings; a prompt drawn twice in a batch pools its
    samples), within each process's batch (GRPO's groups never span processes).

    Statistics (``statistics``: name -> weight; each is logged as the component
    ``<name>_<statistic>`` and the reward is their weighted sum), with features ``f`` (L2-normalised
    with ``normalize``) and the group's distances ``d_ij = |f_i - f_j|``:

    - ``distance``: ``D(S) - D(S without i)``, ``D`` the mean pairwise distance: positive for a
      sample farther from the others than they are from each other (groups of 3 or more).
    - ``logdet``: ``log det K(S) - log det K(S without i)`` with ``K`` the group's RBF kernel
      ``exp(-d^2 / (2 s^2)) + jitter I`` (``s``: ``bandwidth``, or the group's median distance):
      the DPP diversity a sample adds, the log of its variance left unexplained by the others.
      The kernel (and its median bandwidth) is that of the whole group in both terms.
    - ``cluster``: DiverseGRPO's bonus, ``1 / |C_i|`` with ``C_i`` the sample's cluster (samples
      linked by distances below ``cluster_radius``, single linkage): 1 for a sample alone, ``1/G``
      for a group that collapsed to one mode.

    GRPO normalises each group's rewards, so the offset of a statistic does not matter, only how it
    ranks a group's samples; its weight sets its share against the other rewards (or use the
    algorithm's ``component_norm``). Cost: an [n, n] distance matrix and an n x n inverse per group.

    Args:
        feature_extractor: a FEATURE_EXTRACTORS config: a frozen feature space of the rewards,
            never the held-out network that evaluation judges with (e.g. ``TokenizerFeatures`` for
            layout, size and background, or a reward classifier's ``TimmFeatures``).
        statistics: weights of ``distance``, ``logdet`` and ``cluster``.
        normalize: L2-normalise the features first (distances in [0, 2], whatever the extractor's
            scale).
        bandwidth: the RBF kernel's length scale, a number or 'median' (per group).
        jitter: added to the kernel's diagonal (keeps near-duplicates finite).
        cluster_radius: the linking distance of ``cluster``.
        name: the reward's name, the prefix of its components.
    """

    per_sample = False  # a sample's reward depends on the other samples of its prompt

    def __init__(self, feature_extractor: dict, statistics: Optional[Dict[str, float]] = None,
                 normalize: bool = True, bandwidth: Union[str, float] = 'median', jitter: float = 1e-3,
                 cluster_radius: float = 0.5, name: Optional[str] = None):
        super().__init__(name or 'diversity')
        self.statistics = dict(statistics or dict(distance=1.0))
        unknown = set(self.statistics) - set(STATISTICS)
        if unknown or not self.statistics:
            raise ValueError(f'GroupDiversity statistics are weights of {STATISTICS}, got {self.statistics}')
        if not (bandwidth == 'median' or isinstance(bandwidth, (int, float)) and bandwidth > 0):
            raise ValueError(f"bandwidth is a positive number or 'median', got {bandwidth!r}")
        if jitter < 0 or cluster_radius <= 0:
            raise ValueError(f'jitter must be >= 0 and cluster_radius > 0, got {jitter}, {cluster_radius}')
        self.normalize, self.bandwidth, self.jitter, self.cluster_radius = normalize, bandwidth, jitter, cluster_radius
        self.extractor = FEATURE_EXTRACTORS.build(feature_extractor)
        self.freeze()

    def key(self, statistic: str) -> str:
        return f'{self.name}_{statistic}'

    def group_statistics(self, features: np.ndarray) -> Dict[str, np.ndarray]:
        """Each configured statistic [n] of one group's features [n, D]."""
        features = np.asarray(features, dtype=np.float64)
        if self.normalize:
            features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        dist = pairwise_distances(features)
        n, out = len(features), {}
        if 'distance' in self.statistics:
            if n < 3:
                raise ValueError(f'the distance statistic needs groups of 3 or more samples per prompt, got {n}')
            out['distance'] = distance_gain(dist)
        if 'logdet' in self.statistics:
            out['logdet'] = logdet_gain(kernel_matrix(dist, self.bandwidth, self.jitter))
        if 'cluster' in self.statistics:
            out['cluster'] = 1.0 / cluster_sizes(dist, self.cluster_radius)
        return out

    def batch_statistics(self, features: np.ndarray, prompts: Sequence[str]) -> Dict[str, np.ndarray]:
        """Each statistic [N] of a batch's features [N, D], group by group."""
        if len(features) != len(prompts):
            raise ValueError(f'GroupDiversity got {len(features)} images and {len(prompts)} prompts')
        out = {key: np.empty(len(features)) for key in self.statistics}
        for indices in prompt_groups(prompts):
            for key, values in self.group_statistics(features[indices]).items():
                out[key][indices] = values
        return out

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        features = self.extractor(images)['pool'].double().cpu().numpy()
        return {self.key(key): torch.from_numpy(values).float().to(images.device)
                for key, values in self.batch_statistics(features, prompts).items()}

    def combine(self, components: Dict[str, Tensor]) -> Tensor:
        return sum(weight * components[self.key(key)] for key, weight in self.statistics.items())

    def parts(self, components: Dict[str, Tensor]):
        """One part per statistic, with its weight."""
        return {self.key(key): (weight, components[self.key(key)]) for key, weight in self.statistics.items()}
