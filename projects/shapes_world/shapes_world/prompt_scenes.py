"""Real scenes of given captions: the per-caption reference of a caption-conditional distribution
reward (``ConditionalLeaveOneOutFID``) in the text-to-image world.

The world's data set draws a caption with each scene, so a caption of the GRPO prompt pool has
one real image there; here each caption is drawn again ``per_prompt`` times, its objects (from
``parse``) placed, with background and noise, as ``dataset.sample_scene`` and
``ShapesDataset.scene`` draw them. Configs import this module by name (``custom_imports``).
"""
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from argrpo.registry import DATASETS
from .captions import parse
from .scene import render

# the ranges of dataset.sample_scene (caption mode: top object, bottom object) and ShapesDataset.scene
CX = (0.3, 0.7)
CY = ((0.22, 0.3), (0.7, 0.78))
BACKGROUND = (20, 70)
NOISE = 6


@DATASETS.register_module()
class ShapesPromptScenes(Dataset):
    """``per_prompt`` real scenes of each caption: item ``k * per_prompt + j`` is scene ``j`` of
    caption ``k``, drawn from seed ``(seed, k, j)``. Items: ``image`` [3, size, size] in [-1, 1],
    ``prompt``, ``index``.

    Args:
        prompts: the captions (two-object captions of the world's grammar).
        source: or a DATASETS config whose items' ``prompt`` are the captions (e.g. the GRPO
            prompt pool, ``ShapesDataset(mode='caption', seed=3, length=32)``), distinct ones in
            order of appearance.
        per_prompt: scenes per caption.
        size: the image side.
        seed: the draws' seed (another than the prompt pool's keeps the scenes apart from it).
    """

    def __init__(self, prompts: Optional[Sequence[str]] = None, source: Optional[dict] = None, per_prompt: int = 32,
                 size: int = 32, seed: int = 0):
        if (prompts is None) == (source is None):
            raise ValueError('ShapesPromptScenes takes prompts or source, one of them')
        if prompts is None:
            items = DATASETS.build(source)
            prompts = [items[i]['prompt'] for i in range(len(items))]
        self.prompts: List[str] = list(dict.fromkeys(prompts))
        self.objects = [parse(p) for p in self.prompts]
        if any(len(objects) != 2 for objects in self.objects):
            raise ValueError('ShapesPromptScenes draws two-object captions (text-to-image); for classes use '
                             "ShapesDataset(mode='class') with the reward's class_names")
        self.per_prompt, self.size, self.seed = per_prompt, size, seed

    def __len__(self) -> int:
        return len(self.prompts) * self.per_prompt

    def scene(self, index: int) -> np.ndarray:
        """uint8 HWC image of item ``index``."""
        k, j = divmod(index, self.per_prompt)
        rng = np.random.default_rng((self.seed, k, j))
        placed = [dict(obj, cx=rng.uniform(*CX), cy=rng.uniform(*cy)) for obj, cy in zip(self.objects[k], CY)]
        image = render(placed, self.size, int(rng.integers(*BACKGROUND)))
        return np.clip(image + rng.normal(0, NOISE, image.shape), 0, 255).astype(np.uint8)

    def __getitem__(self, index: int) -> dict:
        image = torch.from_numpy(self.scene(index)).permute(2, 0, 1).float() / 127.5 - 1
        return dict(image=image, prompt=self.prompts[index // self.per_prompt], index=index)
