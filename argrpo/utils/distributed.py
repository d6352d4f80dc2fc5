"""Tensors sharded across processes (FSDP's DTensors) made whole for checkpoints, and whole
tensors sharded again like their parameter when a checkpoint is loaded."""
from torch import Tensor
from torch.distributed.tensor import DTensor, distribute_tensor


def whole(value: Tensor) -> Tensor:
    """``value`` gathered whole, on the CPU, if it is sharded (every process must call this, in
    the same order); else ``value`` itself."""
    return value.full_tensor().cpu() if isinstance(value, DTensor) else value


def shard_like(value: Tensor, like: Tensor) -> Tensor:
    """A whole ``value`` sharded as the DTensor ``like`` (each process keeps its own shard, no
    communication); ``value`` itself when ``like`` is not sharded or ``value`` is not whole."""
    if isinstance(like, DTensor) and not isinstance(value, DTensor) and value.shape == like.shape:
        return distribute_tensor(value.to(like.device), like.device_mesh, like.placements, src_data_rank=None)
    return value
