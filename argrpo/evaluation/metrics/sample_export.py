"""The samples themselves: a grid PNG of the first ones and, optionally, all of them in one
ADM-compatible ``.npz`` (uint8 NHWC ``arr_0``, in evaluation-set order) for the external
evaluators of the LlamaGen and AR-GRPO papers.

Samples never travel between ranks through memory: each rank writes its part to disk and rank 0
merges them by sample index (dropping the duplicates that pad the last distributed batch).
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import barrier, broadcast_object_list, get_rank, get_world_size
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from argrpo.registry import METRICS
from argrpo.utils import from_uint8, image_grid, save_png, to_uint8


@METRICS.register_module()
class SampleExport(BaseMetric):
    """Args:
        out_dir: where the parts, the grid and (by default) the npz go.
        npz: path of the ``.npz`` of all samples; None: no export.
        grid: path of the grid PNG of the first ``grid_size`` samples; None: no grid.
    """

    default_prefix = 'samples'

    def __init__(self, out_dir: str, npz: Optional[str] = None, grid: Optional[str] = 'samples_grid.png',
                 grid_size: int = 64, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir, self.grid_size = out_dir, grid_size
        self.npz = None if npz is None else osp.join(out_dir, npz)
        self.grid = None if grid is None else osp.join(out_dir, grid)
        self.images: List[np.ndarray] = []
        self.indices: List[int] = []

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        images = torch.stack([sample['image'] for sample in data_samples])
        self.images.append(to_uint8(images))
        self.indices.extend(int(sample['index']) for sample in data_samples)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        raise NotImplementedError('SampleExport merges its parts in evaluate()')

    def evaluate(self, size: int) -> Dict[str, float]:
        parts_dir = osp.join(self.out_dir, 'sample_parts')
        os.makedirs(parts_dir, exist_ok=True)
        rank, world = get_rank(), get_world_size()
        images = np.concatenate(self.images) if self.images else np.zeros((0, 1, 1, 3), np.uint8)
        np.savez(osp.join(parts_dir, f'rank{rank}.npz'), images=images, indices=np.array(self.indices))
        self.images, self.indices = [], []
        barrier()
        count = [0]
        if rank == 0:
            count[0] = self._merge(parts_dir, world, size)
        barrier()
        broadcast_object_list(count)
        return {f'{self.prefix}/count' if self.prefix else 'count': count[0]}

    def _merge(self, parts_dir: str, world: int, size: int) -> int:
        parts = [np.load(osp.join(parts_dir, f'rank{r}.npz')) for r in range(world)]
        indices = np.concatenate([p['indices'] for p in parts])
        images = np.concatenate([p['images'] for p in parts if len(p['images'])])
        _, first = np.unique(indices, return_index=True)  # sorted by index, padding dropped
        images = images[first[:size]]
        if self.grid is not None:
            save_png(image_grid(from_uint8(images[:self.grid_size])), self.grid)
        if self.npz is not None:
            np.savez(self.npz, arr_0=images)
            print_log(f'{len(images)} samples saved to {self.npz} (ADM format: uint8 NHWC arr_0)',
                      logger='current')
        for r in range(world):
            os.remove(osp.join(parts_dir, f'rank{r}.npz'))
        os.rmdir(parts_dir)
        return len(images)
