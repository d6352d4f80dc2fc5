"""Perceptual quality through pyiqa: MANIQA as in AR-GRPO, or any no-reference pyiqa metric.

pyiqa's constructors fetch weights from the hub (MANIQA builds a pretrained timm ViT-B/8 although
its own checkpoint holds those weights). Here the architecture is built with every hub fetch
turned off, then the local checkpoint is loaded strictly.
"""
import contextlib
import inspect
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from argrpo.registry import REWARDS
from argrpo.utils import load_weights
from .base import BaseReward


@contextlib.contextmanager
def offline_construction(metric: str) -> Iterator[None]:
    """timm models built without pretrained weights; any pyiqa download is a clear error."""
    import timm
    import pyiqa.archs.arch_util as arch_util

    create_model, load_url = timm.create_model, arch_util.load_file_from_url

    def create_without_weights(*args, **kwargs):
        kwargs['pretrained'] = False
        return create_model(*args, **kwargs)

    def refuse_download(url, *args, **kwargs):
        raise FileNotFoundError(f'pyiqa metric {metric!r} wants {url} at construction; argrpo '
                                'never downloads: give the metric its weights with checkpoint=')

    timm.create_model, arch_util.load_file_from_url = create_without_weights, refuse_download
    try:
        yield
    finally:
        timm.create_model, arch_util.load_file_from_url = create_model, load_url


@REWARDS.register_module()
class IQAReward(BaseReward):
    """``(metric(images) - offset) * scale``, negated for lower-is-better metrics.

    Args:
        metric: a pyiqa no-reference metric name ('maniqa', 'musiq', 'clipiqa', 'piqe', ...).
        checkpoint: local weights of a learned metric (pyiqa's ``{'params': ...}`` files or a
            plain state dict), loaded strictly; None for metrics without weights (e.g. piqe).
        min_size: images whose shorter side is smaller are upsampled (bicubic) to it first
            (MANIQA crops 224 px patches).
        offset, scale: AR-GRPO normalises MANIQA as ``(x - 0.5) / 0.5``: offset 0.5, scale 2.
        metric_options: overrides of pyiqa's architecture options (e.g. MANIQA's
            ``test_sample``, the number of 224 px crops averaged, 20 by default).
    """

    def __init__(self, metric: str = 'maniqa', checkpoint: Optional[str] = None, min_size: int = 224,
                 offset: float = 0.0, scale: float = 1.0, metric_options: Optional[dict] = None,
                 name: Optional[str] = None):
        super().__init__(name or metric)
        from pyiqa.archs import _lazy_import_arch, build_network
        from pyiqa.utils.registry import ARCH_REGISTRY
        from pyiqa.default_model_configs import DEFAULT_CONFIGS
        if metric not in DEFAULT_CONFIGS:
            raise KeyError(f'{metric!r} is not a pyiqa metric; known: {", ".join(sorted(DEFAULT_CONFIGS))}')
        config = DEFAULT_CONFIGS[metric]
        if config.get('metric_mode') != 'NR':
            raise ValueError(f'{metric!r} is a full-reference metric; a reward needs a no-reference one')
        opts = dict(config['metric_opts'], **(metric_options or {}))
        _lazy_import_arch(opts['type'])
        if 'pretrained' in inspect.signature(ARCH_REGISTRY.get(opts['type'])).parameters:
            opts['pretrained'] = False
        with offline_construction(metric):
            self.net = build_network(opts)
        if checkpoint is not None:
            load_weights(self.net, checkpoint, f'pyiqa {metric} checkpoint',
                         f'Download the {metric} weights pyiqa uses and point checkpoint= at them.')
        self.sign = -1.0 if config.get('lower_better', False) else 1.0
        self.min_size, self.offset, self.scale = min_size, offset, scale
        self.freeze()

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        device = next(self.net.parameters(), torch.empty(0)).device
        x = ((images.float().to(device) + 1) / 2).clamp(0, 1)
        if min(x.shape[-2:]) < self.min_size:
            factor = self.min_size / min(x.shape[-2:])
            size = (round(x.shape[-2] * factor), round(x.shape[-1] * factor))
            x = F.interpolate(x, size=size, mode='bicubic', align_corners=False).clamp(0, 1)
        raw = self.net(x).reshape(len(x), -1).mean(-1)
        return self.sign * (raw - self.offset) * self.scale
