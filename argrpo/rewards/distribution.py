"""A distribution-level reward: how much each sample moves the generated distribution toward the
real one, by the leave-one-out Fréchet distance of the batch in a feature space."""
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather, get_rank, get_world_size
from torch import Tensor

from argrpo.evaluation.functional import frechet_distance, psd_sqrt
from argrpo.evaluation.reference import load_reference
from argrpo.registry import FEATURE_EXTRACTORS, REWARDS
from .base import BaseReward

HOW_TO_GET = ('Give real images as an ADM-style .npz (arr_0: uint8 NHWC; the shapes world\'s model zoo ships '
              'real.npz, the guided-diffusion evaluations give VIRTUAL_imagenet256_labeled.npz), a folder of '
              'real images, or a features file argrpo wrote (<name>.<extractor>.npz): features of images are '
              'computed with feature_extractor on first use and cached next to them (or in cache_dir).')


Moments = Tuple[np.ndarray, np.ndarray]  # mean [D], covariance [D, D]


def blend(running: Moments, batch: Moments, a: float) -> Moments:
    """The moments of ``a * running + (1 - a) * batch`` (an EMA of the first and second moments)."""
    (run_mean, run_cov), (mean, cov) = running, batch
    shift = mean - run_mean
    return a * run_mean + (1 - a) * mean, a * run_cov + (1 - a) * cov + a * (1 - a) * np.outer(shift, shift)


def leave_one_out_fd(features: np.ndarray, real: Tuple[np.ndarray, np.ndarray, np.ndarray], running: Moments,
                     a: float) -> Tuple[np.ndarray, Moments]:
    """``FD(G without i) - FD(G)`` for each of ``n >= 3`` features [n, D], ``G`` the blend of the
    running moments (weight ``a``) and those of the features (rank-one downdates without ``i``),
    ``FD`` the Fréchet distance to the real (mean, covariance, its square root); and the moments
    of ``G`` with every sample."""
    mu_real, sigma_real, root = real
    n = len(features)
    mean = features.mean(0)
    dev = features - mean
    scatter = dev.T @ dev
    everything = blend(running, (mean, scatter / (n - 1)), a)
    fd_all = frechet_distance(mu_real, sigma_real, *everything, root)
    rewards = np.empty(n)
    for i, d in enumerate(dev):
        without = blend(running, (mean - d / (n - 1), (scatter - n / (n - 1) * np.outer(d, d)) / (n - 2)), a)
        rewards[i] = frechet_distance(mu_real, sigma_real, *without, root) - fd_all
    return rewards, everything


@REWARDS.register_module()
class LeaveOneOutFID(BaseReward):
    """``scale * (FD(G without i) - FD(G))`` for sample ``i``: positive when the sample pulls the
    generated distribution ``G`` toward the real one, ``FD`` the Fréchet distance of Gaussians
    (``evaluation.frechet_distance``) to the real statistics, in the ``pool`` features of
    ``feature_extractor``.

    ``G`` blends the batch with running moments of earlier batches (mean ``mu_r``, covariance
    ``C_r``), so that a small batch still gives a stable estimate: with ``a = ema`` (0 before the
    first batch), a batch of mean ``m`` and covariance ``S`` (``ddof=1``) gives the mixture
    ``a * running + (1 - a) * batch``:

        mu = a mu_r + (1 - a) m,    C = a C_r + (1 - a) S + a (1 - a) (m - mu_r)(m - mu_r)^T

    (an EMA of the first and second moments). ``G without i`` is the same with ``m`` and ``S`` of
    the batch less sample ``i`` (rank-one downdates). After the rewards, the running moments
    become those of the whole batch's ``G``: one update per call, so a sample is never compared
    with itself twice. Under several processes the batch is that of all processes (gathered), so
    every process holds the same running moments. The running moments are checkpointed
    (``checkpointed_buffers``), the extractor is not (it comes from its file).

    Cost per call of n samples in D dimensions: n + 1 symmetric D x D eigenvalue problems and
    2 (n + 1) D x D products, in float64 on the CPU; per sample on one core, 1 ms at D = 96,
    0.04 s at 512, 2.2 s at Inception's 2048 (more cores or a smaller feature space for that).

    Args:
        feature_extractor: a FEATURE_EXTRACTORS config, as ``DistributionMetrics`` takes:
            ``FIDInception`` for ImageNet; a network of the rewards (never the held-out one that
            evaluation judges with) for the demo.
        reference: real images or their features for this extractor (``evaluation.reference``),
            read on the first call.
        ema: weight of the running moments, ``a`` above (e.g. 0.9); 0 or None: the batch alone.
        scale: multiplies the reward; it is of the order of ``(1 - a) / n`` times the distance.
        cache_dir, batch_size: where and in what batches reference features are computed.
    """

    per_sample = False  # a sample's reward depends on the whole batch
    checkpointed_buffers = ('running_mean', 'running_cov', 'count')

    def __init__(self, feature_extractor: dict, reference: str, ema: Optional[float] = 0.9, scale: float = 1.0,
                 cache_dir: Optional[str] = None, batch_size: int = 64, name: Optional[str] = None):
        super().__init__(name or 'fid')
        self.ema = float(ema or 0.0)
        if not 0 <= self.ema < 1:
            raise ValueError(f'ema is the weight of the running moments, in [0, 1), got {ema}')
        if not (reference and osp.exists(osp.expanduser(reference))):
            raise FileNotFoundError(f'{type(self).__name__} reference: not found: {reference}. {HOW_TO_GET}')
        self.reference, self.cache_dir, self.batch_size, self.scale = reference, cache_dir, batch_size, scale
        self.extractor = FEATURE_EXTRACTORS.build(feature_extractor)
        with torch.no_grad():  # the feature dimension, for the running moments' buffers
            dim = self.extractor(torch.zeros(1, 3, 32, 32))['pool'].shape[-1]
        self.register_buffer('running_mean', torch.zeros(dim, dtype=torch.float64))
        self.register_buffer('running_cov', torch.zeros(dim, dim, dtype=torch.float64))
        self.register_buffer('count', torch.zeros((), dtype=torch.long))  # batches absorbed
        self._real: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        self.freeze()

    def real_statistics(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, covariance and its square root of the real features (read once)."""
        if self._real is None:
            ref = load_reference(self.reference, self.extractor, self.cache_dir, self.batch_size)
            if ref.mu.shape != self.running_mean.shape:
                raise ValueError(f'reference {self.reference} has {ref.mu.shape[-1]}-d features, '
                                 f'{self.extractor.identity} gives {len(self.running_mean)}-d: recompute the '
                                 'reference with the configured feature_extractor')
            self._real = (ref.mu, ref.sigma, psd_sqrt(ref.sigma))
        return self._real

    @torch.no_grad()
    def leave_one_out(self, features: np.ndarray) -> np.ndarray:
        """Rewards [n] of features [n, D]; then the running moments absorb the batch."""
        real = self.real_statistics()
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != len(real[0]) or len(features) < 3:
            raise ValueError(f'leave-one-out statistics need features [n >= 3, {len(real[0])}], got {features.shape}')
        a = self.ema if self.count > 0 else 0.0
        running = (self.running_mean.cpu().numpy(), self.running_cov.cpu().numpy())
        rewards, (mean, cov) = leave_one_out_fd(features, real, running, a)
        self.running_mean.copy_(torch.from_numpy(mean))
        self.running_cov.copy_(torch.from_numpy(cov))
        self.count += 1
        return self.scale * rewards

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        features = self.extractor(images.to(self.running_mean.device))['pool'].double()
        n, rank = len(features), 0
        if get_world_size() > 1:
            sizes = [int(s) for s in all_gather(torch.tensor([n], device=features.device))]
            if len(set(sizes)) > 1:
                raise ValueError(f'LeaveOneOutFID needs the same number of samples on every process, got {sizes}')
            features, rank = torch.cat(all_gather(features.contiguous())), get_rank()
        rewards = self.leave_one_out(features.cpu().numpy())[rank * n:(rank + 1) * n]
        return torch.from_numpy(rewards).to(images.device)
