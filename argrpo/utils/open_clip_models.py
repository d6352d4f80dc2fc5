"""open_clip models built offline with weights from local files."""
import contextlib
import logging
import os.path as osp
import weakref
from typing import Iterator, Optional, Sequence, Tuple

import torch

from .checkpoint import load_weights, require_file


def create_open_clip(arch: str) -> torch.nn.Module:
    """An open_clip architecture with random weights (``pretrained=None``: nothing downloaded).
    Architectures of your own join open_clip's with ``open_clip.add_model_config(folder)``."""
    import open_clip
    with _without_random_init_warning():
        return open_clip.create_model(arch, pretrained=None)


class _RandomInitFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith('No pretrained weights loaded for model')


@contextlib.contextmanager
def _without_random_init_warning() -> Iterator[None]:
    """open_clip warns on the root logger that a model built with ``pretrained=None`` has random
    weights: that is what argrpo asks for (weights come next from a local file, or training)."""
    quiet = _RandomInitFilter()
    logging.getLogger().addFilter(quiet)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(quiet)


_LOADED: 'weakref.WeakValueDictionary[tuple, torch.nn.Module]' = weakref.WeakValueDictionary()


def load_open_clip(arch: str, checkpoint: Optional[str], user: str, how_to_get: str,
                   shared: bool = True) -> torch.nn.Module:
    """An open_clip model with weights from a local file, loaded strictly. With ``shared``, users
    of the same architecture and file share one model (e.g. ``CLIPScore`` and ``CLIPRealism``):
    one copy in memory, one load; they freeze it and change nothing else in it. A user that cuts
    the model down (a text encoder dropping the image tower) asks for its own copy."""
    if checkpoint is None:
        raise FileNotFoundError(f'{user} needs checkpoint=: a local file with {arch} weights. {how_to_get}')
    checkpoint = require_file(checkpoint, f'{user} ({arch}) checkpoint', how_to_get)  # before building the model
    key = (arch, osp.realpath(checkpoint), osp.getmtime(checkpoint))
    model = _LOADED.get(key) if shared else None
    if model is None:
        model = create_open_clip(arch)
        load_weights(model, checkpoint, f'{user} ({arch}) checkpoint', how_to_get)
        if shared:
            _LOADED[key] = model
    return model


def open_clip_input(model: torch.nn.Module) -> Tuple[int, Sequence[float], Sequence[float]]:
    """Input size, mean and std of an open_clip model's image tower (for ``prepare_images``)."""
    size = model.visual.image_size
    cfg = model.visual.preprocess_cfg
    return (size if isinstance(size, int) else size[0]), cfg['mean'], cfg['std']
