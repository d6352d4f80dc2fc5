"""The numbers behind the generation metrics, on feature arrays (float64 numpy where it matters).

Conventions follow OpenAI's guided-diffusion evaluator (Dhariwal & Nichol 2021), the one the
LlamaGen and AR-GRPO papers report with: covariances with ``ddof=1``, Inception Score on softmax
of the bias-free 1008-way logits in splits of 5000, precision / recall with k = 3 manifolds.
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
import torch


def feature_statistics(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] (``ddof=1``) of features [N, D], in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f'statistics need features [N >= 2, D], got shape {features.shape}')
    return features.mean(0), np.cov(features, rowvar=False)


def _psd_eigenvalues(values: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with rounding noise (|x| below d * eps * max) set to 0: the
    square roots of ~1e-16 noise would otherwise add ~1e-8 each to the trace."""
    tol = max(values.max(initial=0), 0) * len(values) * np.finfo(np.float64).eps
    return np.where(values > tol, values, 0.0)


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a PSD matrix (rounding noise in its eigenvalues set to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(_psd_eigenvalues(values))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     root1: Optional[np.ndarray] = None) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (FID on Inception features,
    Heusel et al. 2017): ``|mu1 - mu2|^2 + tr(s1) + tr(s2) - 2 tr((s1 s2)^1/2)``.

    ``tr((s1 s2)^1/2)`` is taken as the sum of square roots of the eigenvalues of the symmetric
    ``s1^1/2 s2 s1^1/2``, which has the same spectrum; unlike a general ``sqrtm`` this stays real
    and exact for singular or near-singular covariances (fewer samples than dimensions).
    ``root1``: ``psd_sqrt(sigma1)`` when already known (many distances to one distribution)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f'statistics of different shapes: mu {mu1.shape} vs {mu2.shape}, '
                         f'sigma {sigma1.shape} vs {sigma2.shape}')
    root1 = psd_sqrt(sigma1) if root1 is None else root1
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(_psd_eigenvalues(np.linalg.eigvalsh((middle + middle.T) / 2))).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def inception_score(logits: np.ndarray, split_size: int = 5000) -> Tuple[float, float]:
    """Inception Score (Salimans et al. 2016), ``exp(E_x KL(p(y|x) || p(y)))`` per split of
    ``split_size`` samples; mean and std over splits."""
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    log_p = logits.log_softmax(-1)
    scores = []
    for start in range(0, len(log_p), split_size):
        p = log_p[start:start + split_size].exp()
        kl = (torch.xlogy(p, p) - torch.xlogy(p, p.mean(0))).sum(-1).mean()  # 0 log 0 = 0
        scores.append(math.exp(kl.item()))
    return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T).clamp_(min=0)


def manifold_radii(features: torch.Tensor, k: int, batch: int) -> torch.Tensor:
    """Squared distance of each point to its k-th nearest other point of the same set."""
    if len(features) <= k:
        raise ValueError(f'a k={k} manifold needs more than {k} points, got {len(features)}')
    return torch.cat([_squared_distances(features[s:s + batch], features).kthvalue(k + 1, dim=1).values
                      for s in range(0, len(features), batch)])


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch: int) -> float:
    """Fraction of ``points`` inside at least one ball (centre, radius) of the manifold."""
    inside = [(_squared_distances(points[s:s + batch], centres) <= radii[None]).any(1)
              for s in range(0, len(points), batch)]
    return torch.cat(inside).double().mean().item()


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, batch: int = 4096) -> Tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): precision is the fraction of
    generated samples inside the real manifold (union of balls reaching each real point's k-th
    neighbour), recall the fraction of real samples inside the generated manifold."""
    real_t = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    fake_t = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    precision = _coverage(fake_t, real_t, manifold_radii(real_t, k, batch), batch)
    recall = _coverage(real_t, fake_t, manifold_radii(fake_t, k, batch), batch)
    return precision, recall


def group_diversity(features: np.ndarray, groups: Sequence) -> float:
    """Mean pairwise cosine distance between features of the same group (samples of one prompt),
    averaged over the groups with two or more members: 0 when every prompt always gives the same
    image. A collapse detector: reward optimisation shrinks it before quality metrics notice."""
    by_group: dict = {}
    for feature, group in zip(np.asarray(features, dtype=np.float64), groups):
        by_group.setdefault(group, []).append(feature)
    distances = []
    for members in by_group.values():
        if len(members) < 2:
            continue
        f = np.stack(members)
        f /= np.linalg.norm(f, axis=1, keepdims=True).clip(min=1e-12)
        n = len(f)
        distances.append((n * n - (f @ f.T).sum()) / (n * (n - 1)))  # off-diagonal mean of 1 - cos
    if not distances:
        raise ValueError('diversity needs at least two samples of some prompt')
    return float(np.mean(distances))
