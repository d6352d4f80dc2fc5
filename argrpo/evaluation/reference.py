"""Reference data of the distribution metrics: real-image features, read or computed and cached.

A reference is one of
- an ADM reference batch ``.npz`` (``arr_0``: uint8 NHWC images, e.g. VIRTUAL_imagenet256_labeled.npz),
  or a folder of real images: features are computed with the configured extractor once and
  cached next to it (or in ``cache_dir``) as ``<name>.<extractor>.npz``;
- such a features file (keys ``extractor``, ``pool`` and maybe ``spatial``);
- statistics only (``mu``, ``sigma`` and maybe ``mu_s``, ``sigma_s``, as in pytorch-fid or ADM
  files): FID / sFID only, and only with the FID Inception that such files come from.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from argrpo.utils import atomic_write, require_file
from .functional import feature_statistics

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.webp')


@dataclass
class Reference:
    identity: str                      # the extractor that produced it ('' if unknown)
    pool: Optional[np.ndarray] = None  # features [N, D] (None for statistics-only files)
    spatial: Optional[np.ndarray] = None
    mu: Optional[np.ndarray] = None
    sigma: Optional[np.ndarray] = None
    mu_s: Optional[np.ndarray] = None
    sigma_s: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.mu is None and self.pool is not None:
            self.mu, self.sigma = feature_statistics(self.pool)
        if self.mu_s is None and self.spatial is not None:
            self.mu_s, self.sigma_s = feature_statistics(self.spatial)


def _image_batches(path: str, batch_size: int) -> Iterator[np.ndarray]:
    """uint8 NHWC batches of an ADM ``arr_0`` file or of a folder of images (each resized to
    the size of the first one)."""
    if osp.isdir(path):
        from PIL import Image
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in reference folder {path}')
        size = None
        for start in range(0, len(files), batch_size):
            batch = []
            for name in files[start:start + batch_size]:
                image = Image.open(osp.join(path, name)).convert('RGB')
                size = size or image.size
                batch.append(np.asarray(image.resize(size, Image.BICUBIC) if image.size != size else image))
            yield np.stack(batch)
    else:
        images = np.load(path, mmap_mode='r')['arr_0']
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f'{path}: arr_0 must be uint8 NHWC RGB images, got {images.dtype} {images.shape}')
        for start in range(0, len(images), batch_size):
            yield np.asarray(images[start:start + batch_size])


def _count_images(path: str) -> int:
    if osp.isdir(path):
        return sum(f.lower().endswith(IMAGE_SUFFIXES) for f in os.listdir(path))
    return len(np.load(path, mmap_mode='r')['arr_0'])


@torch.no_grad()
def compute_features(path: str, extractor: torch.nn.Module, batch_size: int = 64) -> dict:
    """Features of every reference image, with a progress bar."""
    device = next(extractor.parameters()).device
    parts: dict = {}
    progress = ProgressBar(_count_images(path))
    for batch in _image_batches(path, batch_size):
        images = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        for key, value in extractor(images).items():
            parts.setdefault(key, []).append(value.float().cpu().numpy())
        for _ in range(len(batch)):
            progress.update()
    return {key: np.concatenate(value) for key, value in parts.items() if key in ('pool', 'spatial')}


def _cache_path(path: str, identity: str, cache_dir: Optional[str]) -> str:
    name = osp.basename(osp.normpath(path))
    slug = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in identity)
    return osp.join(cache_dir or osp.dirname(osp.abspath(path)), f'{osp.splitext(name)[0]}.{slug}.npz')


def load_reference(path: Optional[str], extractor, cache_dir: Optional[str] = None,
                   batch_size: int = 64) -> Reference:
    """The reference for ``extractor``; an error when it was made with another extractor."""
    if not (path and osp.isdir(path)):
        path = require_file(path, 'reference images or statistics for FID / precision / recall',
                            'Give an ADM reference batch .npz (e.g. VIRTUAL_imagenet256_labeled.npz from '
                            'the guided-diffusion evaluations), a folder of real images, or a features '
                            'file written by argrpo.')
    if osp.isdir(path) or 'arr_0' in np.load(path, mmap_mode='r').files:
        cache = _cache_path(path, extractor.identity, cache_dir)
        if not osp.exists(cache):
            print_log(f'computing reference features of {path} with {extractor.identity}', logger='current')
            features = compute_features(path, extractor, batch_size)
            atomic_write(cache, lambda f: np.savez(f, extractor=extractor.identity, source=osp.abspath(path),
                                                   **features))
        path = cache
    data = np.load(path)
    if 'extractor' in data.files:
        identity = str(data['extractor'])
        if identity != extractor.identity:
            raise ValueError(f'reference {path} holds features of {identity}, but the metric is '
                             f'configured with {extractor.identity}: they are not comparable. '
                             'Recompute the reference with the configured extractor.')
        return Reference(identity, pool=data['pool'],
                         spatial=data['spatial'] if 'spatial' in data.files else None)
    if 'mu' in data.files and 'sigma' in data.files:
        if not extractor.identity.startswith('FIDInception'):
            raise ValueError(f'reference {path} holds bare FID statistics (mu, sigma) of the FID '
                             f'Inception network, but the metric is configured with '
                             f'{extractor.identity}: they are not comparable.')
        spatial = {key: data[key] for key in ('mu_s', 'sigma_s') if key in data.files}
        return Reference('', mu=data['mu'], sigma=data['sigma'], **spatial)
    raise ValueError(f'{path} is not a reference: expected arr_0 (images), extractor + pool '
                     f'(features) or mu + sigma (statistics); it holds {data.files}')
