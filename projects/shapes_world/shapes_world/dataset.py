"""The synthetic world as a dataset: small RGB images of coloured shapes, drawn on the fly from
a seed, with class ids (class-to-image) and captions (text-to-image).

Class-to-image: one shape; class = (colour, shape), 12 classes, named e.g. 'red circle'; size,
position and background vary. Text-to-image: two shapes, one above the other, captioned with
their attributes and relation ('a small red circle above a large blue square').
"""
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from argrpo.registry import DATASETS
from .captions import describe
from .scene import COLORS, SHAPES, SIZES, attributes, class_id, class_names, render


def sample_scene(rng: np.random.Generator, mode: str) -> Tuple[List[Dict], int, str]:
    """Objects (top to bottom), class id (-1 for two objects) and caption of one random scene."""
    def obj(cx_range, cy_range):
        return dict(shape=str(rng.choice(SHAPES)), color=str(rng.choice(list(COLORS))),
                    size=str(rng.choice(list(SIZES))), cx=rng.uniform(*cx_range), cy=rng.uniform(*cy_range))

    if mode == 'class':
        o = obj((0.35, 0.65), (0.35, 0.65))
        return [o], class_id(o), describe([o])
    objects = [obj((0.3, 0.7), (0.22, 0.3)), obj((0.3, 0.7), (0.7, 0.78))]
    return objects, -1, describe(objects, 'above' if rng.random() < 0.5 else 'below')


@DATASETS.register_module()
class ShapesDataset(Dataset):
    """``length`` scenes of the world; scene ``i`` is drawn from seed ``(seed, i)``, so datasets
    with different seeds are disjoint draws (training vs held-out data). ``mode``: 'class'
    (one shape), 'caption' (two shapes) or 'mixed' (alternating: one tokenizer or CLIP for both).

    Items: ``image`` [3, size, size] in [-1, 1], ``label`` (class id, c2i), ``prompt`` (caption),
    ``attributes`` (colour and shape index of each object, top to bottom), ``index``, and
    ``cond`` (the label in 'class' mode, else the caption: the dataset doubles as GRPO's prompt
    source).
    ``repeat``: consecutive items share a scene (several samples per prompt in evaluation)."""

    def __init__(self, length: int = 10000, mode: str = 'class', size: int = 32, seed: int = 0, repeat: int = 1):
        if mode not in ('class', 'caption', 'mixed'):
            raise ValueError(f"mode is 'class', 'caption' or 'mixed', got {mode!r}")
        self.length, self.mode, self.size, self.seed, self.repeat = length, mode, size, seed, repeat

    def __len__(self) -> int:
        return self.length * self.repeat

    @property
    def metainfo(self) -> dict:
        """MMEngine's ``dataset_meta`` of evaluators and visualizers."""
        return dict(classes=tuple(class_names()), mode=self.mode)

    def scene_mode(self, index: int) -> str:
        return ('class', 'caption')[index % 2] if self.mode == 'mixed' else self.mode

    def scene(self, index: int) -> Tuple[np.ndarray, int, str, List[int]]:
        rng = np.random.default_rng((self.seed, index))
        objects, label, caption = sample_scene(rng, self.scene_mode(index))
        image = render(objects, self.size, int(rng.integers(20, 70)))
        noise = rng.normal(0, 6, image.shape)
        return np.clip(image + noise, 0, 255).astype(np.uint8), label, caption, attributes(objects)

    def __getitem__(self, index: int) -> dict:
        scene = index // self.repeat
        image, label, caption, attrs = self.scene(scene)
        tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1
        return dict(image=tensor, label=label, prompt=caption, attributes=torch.tensor(attrs), index=index,
                    cond=label if self.mode == 'class' else caption)

    def images(self, count: int) -> np.ndarray:
        """The first ``count`` images, uint8 NHWC (a reference batch for FID)."""
        return np.stack([self.scene(i)[0] for i in range(count)])
