"""Image conversions shared by sampling, logging and evaluation."""
import os
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.utils import make_grid


def to_unit(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def quantize(images: Tensor) -> Tensor:
    """[-1, 1] -> the same images after a round trip through uint8 (what a saved sample holds)."""
    return ((images.float() + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1


def to_uint8(images: Tensor) -> np.ndarray:
    """[B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3] (rounded as the ADM evaluator expects)."""
    return (to_unit(images) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(array: np.ndarray) -> Tensor:
    """uint8 [B, H, W, 3] (saved samples) -> contiguous float [B, 3, H, W] in [-1, 1], laid out
    as decoded images are, so that a reward's sums run in the same order; ``to_uint8`` inverted."""
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2))).float() / 127.5 - 1


def image_grid(images: Tensor, nrow: Optional[int] = None) -> np.ndarray:
    """[B, 3, H, W] in [-1, 1] -> one uint8 [H', W', 3] grid."""
    nrow = nrow or max(1, int(len(images) ** 0.5))
    grid = make_grid(to_unit(images), nrow=nrow, padding=2, pad_value=1.0)
    return to_uint8(grid[None] * 2 - 1)[0]


def save_png(array: np.ndarray, path: str) -> None:
    from PIL import Image
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(array).save(path)


def prepare_images(images: Tensor, size: int, mean: Sequence[float], std: Sequence[float],
                   center_crop: bool = True) -> Tensor:
    """[-1, 1] -> [0, 1], shorter side resized (bicubic) to ``size``, centre-cropped to a square,
    normalised by ``mean`` / ``std`` (the CLIP recipe)."""
    x = ((images.float() + 1) / 2).clamp(0, 1)
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(max(size, round(h * scale)), max(size, round(w * scale))),
                          mode='bicubic', align_corners=False, antialias=scale < 1).clamp(0, 1)
    if center_crop:
        top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
        x = x[..., top:top + size, left:left + size]
    mean_t = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - mean_t) / std_t
