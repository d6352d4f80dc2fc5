"""open_clip models built offline with weights from local files."""
from typing import Optional, Sequence, Tuple

import torch

from .checkpoint import load_weights


def create_open_clip(arch: str) -> torch.nn.Module:
    """An open_clip architecture with random weights (``pretrained=None``: nothing downloaded).
    Architectures of your own join open_clip's with ``open_clip.add_model_config(folder)``."""
    import open_clip
    return open_clip.create_model(arch, pretrained=None)


def load_open_clip(arch: str, checkpoint: Optional[str], user: str, how_to_get: str) -> torch.nn.Module:
    """An open_clip model with weights from a local file, loaded strictly."""
    model = create_open_clip(arch)
    if checkpoint is None:
        raise FileNotFoundError(f'{user} needs checkpoint=: a local file with {arch} weights. {how_to_get}')
    load_weights(model, checkpoint, f'{user} ({arch}) checkpoint', how_to_get)
    return model


def open_clip_input(model: torch.nn.Module) -> Tuple[int, Sequence[float], Sequence[float]]:
    """Input size, mean and std of an open_clip model's image tower (for ``prepare_images``)."""
    size = model.visual.image_size
    cfg = model.visual.preprocess_cfg
    return (size if isinstance(size, int) else size[0]), cfg['mean'], cfg['std']
