"""A static key/value cache: preallocated for a rollout. The dynamic decode step reads only the
filled part; the static one (fixed shapes, for CUDA graphs) reads all of it under a mask."""
from typing import Tuple

import torch
from torch import Tensor


class KVCache:
    """Keys and values [B, H, max_len, D]. Their addresses never change (marked static for
    torch.compile), so a compiled step can replay a CUDA graph on them, rollout after rollout."""

    def __init__(self, batch: int, heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device):
        self.k = torch.zeros(batch, heads, max_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        if device.type == 'cuda':  # for CUDA graphs; elsewhere no need to import the compiler
            torch._dynamo.mark_static_address(self.k)
            torch._dynamo.mark_static_address(self.v)

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def update(self, pos: int, k: Tensor, v: Tensor) -> Tuple[Tensor, Tensor]:
        """Write k, v [B, H, S, D] at ``pos``; return the keys and values of positions 0..pos+S-1."""
        end = pos + k.shape[2]
        self.k[:, :, pos:end] = k
        self.v[:, :, pos:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]

    def update_at(self, pos: Tensor, k: Tensor, v: Tensor) -> Tuple[Tensor, Tensor]:
        """Write k, v [B, H, 1, D] at the position in the LongTensor ``pos`` [1]; return the whole
        cache, whose later positions the caller masks: the same shapes at every position."""
        self.k.index_copy_(2, pos, k)
        self.v.index_copy_(2, pos, v)
        return self.k, self.v
