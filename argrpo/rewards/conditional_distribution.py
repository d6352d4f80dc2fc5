"""A class- or caption-conditional distribution reward: ``LeaveOneOutFID`` of each prompt's
samples against that prompt's own real images, with running moments per prompt."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import all_gather, get_rank, get_world_size
from torch import Tensor

from argrpo.evaluation.functional import feature_statistics, psd_sqrt
from argrpo.evaluation.reference import load_reference
from argrpo.registry import DATASETS, FEATURE_EXTRACTORS, REWARDS
from argrpo.utils import from_uint8, to_uint8
from .base import BaseReward
from .distribution import leave_one_out_fd

HOW_TO_GET = ('Give the real images with their prompts: an .npz with arr_0 (uint8 NHWC images) and either '
              'prompts (one string per image) or arr_1 (class ids, as ADM\'s labeled reference batches such as '
              'VIRTUAL_imagenet256_labeled.npz hold them; give class_names and template to make the prompts), '
              'or a DATASETS config whose items hold image ([3, H, W] in [-1, 1]) and prompt (or label).')


@REWARDS.register_module()
class ConditionalLeaveOneOutFID(BaseReward):
    """``LeaveOneOutFID`` prompt by prompt: sample ``i`` of prompt ``p`` earns
    ``scale * (FD_p(G_p without i) - FD_p(G_p))``, ``FD_p`` the Fréchet distance to the real
    images of prompt ``p`` alone (a class of class-to-image, a caption of text-to-image) and
    ``G_p`` the samples of ``p`` in the batch (of all processes, gathered) blended with running
    moments of ``p``'s earlier samples (``ema``; ``LeaveOneOutFID`` describes the blend). It
    rewards what the batch-level reward cannot see: a prompt whose samples settled on one layout
    is far from its own real images, however well the batch as a whole covers the world.

    Each prompt's running moments move only when the prompt is in the batch (the first time, its
    samples alone). They are checkpointed (``checkpointed_buffers``: ``running_mean`` [P, D],
    ``running_cov`` [P, D, D], ``count`` [P], row ``k`` that of the ``k``-th prompt of
    ``prompts`` in sorted order); the extractor is not. Memory: ``P * D * D`` float64 numbers
    for the running covariances (4.2 MB for 32 captions at D = 128, 34 GB for ImageNet's 1000
    classes in Inception's 2048: take a smaller feature space there), twice as many for the real
    covariances and their square roots. A prompt
    needs at least 2 real images (5 or more for a useful covariance) and 3 samples in a batch.

    Args:
        feature_extractor: a FEATURE_EXTRACTORS config (a network of the rewards, never the
            held-out one evaluation judges with).
        reference: the real images and their prompts, read at build (their features computed on
            the first call): an ``.npz`` path with ``arr_0`` (uint8 NHWC) and ``prompts`` (a string
            per image) or ``arr_1`` (class ids; ADM's labeled batches), features cached as for
            ``LeaveOneOutFID`` (next to it or in ``cache_dir``); or a DATASETS config whose items
            hold ``image`` ([3, H, W] in [-1, 1]) and ``prompt`` or ``label``.
        class_names: with class ids (``arr_1``, or items' ``label``), the prompt of class ``k`` is
            ``template.format(class_names[k])``: the prompts the training data set gives.
        template: see ``class_names``.
        ema: weight of a prompt's running moments; 0 or None: each batch alone.
        scale: multiplies the reward.
        cache_dir: where an ``.npz`` reference's features are cached.
        batch_size: images per forward when computing reference features.
        name: the reward's name (its logged component).
    """

    per_sample = False  # a sample's reward depends on its prompt's other samples
    checkpointed_buffers = ('running_mean', 'running_cov', 'count')

    def __init__(self, feature_extractor: dict, reference: Union[str, dict],
                 class_names: Optional[Sequence[str]] = None, template: str = '{}', ema: Optional[float] = 0.9,
                 scale: float = 1.0, cache_dir: Optional[str] = None, batch_size: int = 64,
                 name: Optional[str] = None):
        super().__init__(name or 'fid_prompt')
        self.ema = float(ema or 0.0)
        if not 0 <= self.ema < 1:
            raise ValueError(f'ema is the weight of the running moments, in [0, 1), got {ema}')
        self.class_names, self.template = class_names, template
        self.cache_dir, self.batch_size, self.scale = cache_dir, batch_size, scale
        self.extractor = FEATURE_EXTRACTORS.build(feature_extractor)
        self.reference = reference
        self._images: Optional[np.ndarray] = None  # a data set's images (uint8 NHWC) until their features are computed
        image_prompts = self._read_reference(reference)
        self.prompts: List[str] = sorted(set(image_prompts))
        self.index: Dict[str, int] = {prompt: k for k, prompt in enumerate(self.prompts)}
        self._image_ids = np.array([self.index[p] for p in image_prompts])
        few = [p for p, c in zip(self.prompts, np.bincount(self._image_ids, minlength=len(self.prompts))) if c < 2]
        if few:
            raise ValueError(f'{type(self).__name__} reference: fewer than 2 real images of {few[:5]}'
                             f'{" ..." if len(few) > 5 else ""}: each prompt needs its own real statistics')
        with torch.no_grad():  # the feature dimension, for the running moments' buffers
            dim = self.extractor(torch.zeros(1, 3, 32, 32))['pool'].shape[-1]
        num = len(self.prompts)
        self.register_buffer('running_mean', torch.zeros(num, dim, dtype=torch.float64))
        self.register_buffer('running_cov', torch.zeros(num, dim, dim, dtype=torch.float64))
        self.register_buffer('count', torch.zeros(num, dtype=torch.long))  # batches absorbed, per prompt
        self._real: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        self.freeze()

    def _prompt(self, label=None, prompt=None) -> str:
        if self.class_names is not None:
            if label is None or not 0 <= int(label) < len(self.class_names):
                raise ValueError(f'{type(self).__name__} reference: class id {label} is not one of the '
                                 f'{len(self.class_names)} class_names')
            return self.template.format(self.class_names[int(label)])
        if prompt is None:
            raise ValueError(f'{type(self).__name__} reference without prompts: give class_names for its '
                             f'class ids. {HOW_TO_GET}')
        return str(prompt)

    def _read_reference(self, reference: Union[str, dict]) -> List[str]:
        """The prompt of each real image; a data set's images are kept until their features are computed."""
        if isinstance(reference, dict):
            items = DATASETS.build(reference)
            images, prompts = [], []
            for k in range(len(items)):
                item = items[k]
                images.append(to_uint8(torch.as_tensor(item['image'])[None]))
                prompts.append(self._prompt(item.get('label'), item.get('prompt')))
            if not images:
                raise ValueError(f'{type(self).__name__} reference: the data set {reference} is empty')
            self._images = np.concatenate(images)
            return prompts
        if not (reference and osp.isfile(osp.expanduser(reference))):
            raise FileNotFoundError(f'{type(self).__name__} reference: not found: {reference}. {HOW_TO_GET}')
        data = np.load(osp.expanduser(reference))
        if 'arr_0' not in data.files or not {'prompts', 'arr_1'} & set(data.files):
            raise ValueError(f'{type(self).__name__} reference {reference} holds {data.files}. {HOW_TO_GET}')
        if 'prompts' in data.files and self.class_names is None:
            return [str(p) for p in data['prompts']]
        if 'arr_1' not in data.files:
            raise ValueError(f'{type(self).__name__} reference {reference}: class_names turn class ids (arr_1) '
                             'into prompts, but it holds none')
        return [self._prompt(label=label) for label in data['arr_1']]

    def _reference_features(self) -> np.ndarray:
        if self._images is None:
            pool = load_reference(self.reference, self.extractor, self.cache_dir, self.batch_size).pool
        else:
            device = self.running_mean.device
            batches = [from_uint8(self._images[s:s + self.batch_size]).to(device)
                       for s in range(0, len(self._images), self.batch_size)]
            pool = np.concatenate([self.extractor(batch)['pool'].double().cpu().numpy() for batch in batches])
            self._images = None
        if pool is None or pool.shape != (len(self._image_ids), self.running_mean.shape[1]):
            raise ValueError(f'{type(self).__name__} reference {self.reference}: features of shape '
                             f'{None if pool is None else pool.shape}, expected {len(self._image_ids)} images x '
                             f'{self.running_mean.shape[1]}-d ({self.extractor.identity})')
        return pool

    def real_statistics(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per prompt, the mean [P, D], covariance [P, D, D] and its square root of its real
        features (computed once, on the first call)."""
        if self._real is None:
            pool = self._reference_features()
            moments = [feature_statistics(pool[self._image_ids == k]) for k in range(len(self.prompts))]
            mu = np.stack([m for m, _ in moments])
            sigma = np.stack([s for _, s in moments])
            self._real = (mu, sigma, np.stack([psd_sqrt(s) for s in sigma]))
        return self._real

    def prompt_ids(self, prompts: Sequence[str]) -> np.ndarray:
        """The row of each prompt in the running moments; unknown prompts are an error."""
        unknown = sorted(set(prompts) - set(self.index))
        if unknown:
            raise ValueError(f'{type(self).__name__}: no real images of the prompts {unknown[:5]}'
                             f'{" ..." if len(unknown) > 5 else ""} in its reference')
        return np.array([self.index[p] for p in prompts])

    @torch.no_grad()
    def leave_one_out(self, features: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Rewards [n] of features [n, D] whose prompts are the rows ``ids`` [n]; then each
        prompt's running moments absorb its samples."""
        mu, sigma, root = self.real_statistics()
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != mu.shape[1] or len(ids) != len(features):
            raise ValueError(f'features [n, {mu.shape[1]}] with n prompt ids, got {features.shape} and {len(ids)}')
        rewards = np.empty(len(features))
        for k in np.unique(ids):
            rows = np.flatnonzero(ids == k)
            if len(rows) < 3:
                raise ValueError(f'{type(self).__name__}: {len(rows)} samples of {self.prompts[k]!r} in the batch; '
                                 'leave-one-out statistics need 3 or more per prompt')
            a = self.ema if self.count[k] > 0 else 0.0
            running = (self.running_mean[k].cpu().numpy(), self.running_cov[k].cpu().numpy())
            rewards[rows], (mean, cov) = leave_one_out_fd(features[rows], (mu[k], sigma[k], root[k]), running, a)
            self.running_mean[k] = torch.from_numpy(mean)
            self.running_cov[k] = torch.from_numpy(cov)
            self.count[k] += 1
        return self.scale * rewards

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        device = self.running_mean.device
        features = self.extractor(images.to(device))['pool'].double()
        ids = torch.from_numpy(self.prompt_ids(prompts)).to(device)
        n, rank = len(features), 0
        if get_world_size() > 1:
            sizes = [int(s) for s in all_gather(torch.tensor([n], device=device))]
            if len(set(sizes)) > 1:
                raise ValueError(f'{type(self).__name__} needs the same number of samples on every process, '
                                 f'got {sizes}')
            features, ids, rank = torch.cat(all_gather(features.contiguous())), torch.cat(all_gather(ids)), get_rank()
        rewards = self.leave_one_out(features.cpu().numpy(), ids.cpu().numpy())[rank * n:(rank + 1) * n]
        return torch.from_numpy(rewards).to(images.device)
