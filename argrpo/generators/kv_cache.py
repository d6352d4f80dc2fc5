"""A static key/value cache: preallocated once per rollout, attention reads only the filled part."""
from typing import Tuple

import torch
from torch import Tensor


class KVCache:

    def __init__(self, batch: int, heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device):
        self.k = torch.zeros(batch, heads, max_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)

    def update(self, pos: int, k: Tensor, v: Tensor) -> Tuple[Tensor, Tensor]:
        """Write k, v [B, H, S, D] at ``pos``; return the keys and values of positions 0..pos+S-1."""
        end = pos + k.shape[2]
        self.k[:, :, pos:end] = k
        self.v[:, :, pos:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]
