"""open_clip models built offline with weights from local files; argrpo's own small
architectures (``model_configs/``: the demo's CLIP) registered next to open_clip's."""
import os.path as osp
from typing import Optional, Sequence, Tuple

import torch

from .checkpoint import load_weights

MODEL_CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'model_configs')


def create_open_clip(arch: str) -> torch.nn.Module:
    """An open_clip architecture with random weights (``pretrained=None``: nothing downloaded)."""
    import open_clip
    if arch not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIGS)
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
