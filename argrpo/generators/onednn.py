"""Faster CPU decoding: run ``nn.Linear`` layers through oneDNN with weights reordered once.

A decode step multiplies a handful of rows by every weight matrix; on CPUs PyTorch's default
float32 GEMM for such thin products is markedly slower than oneDNN's (about 1.5x on the
project's 2-core AVX-512 machines, see benchmarks/bench_sampling.py). Results agree with
``F.linear`` to float32 rounding.
"""
import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn


def onednn_usable(module: nn.Module) -> bool:
    param = next(module.parameters(), None)
    return (param is not None and param.device.type == 'cpu' and param.dtype == torch.float32
            and not torch.is_autocast_enabled('cpu') and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_reorder_linear_weight'))


@contextlib.contextmanager
def onednn_linears(module: nn.Module, rows: int) -> Iterator[None]:
    """Within the block, every bias-free ``nn.Linear`` of ``module`` runs on weights reordered
    once into oneDNN's blocked layout for products of about ``rows`` rows (any row count
    works). Inference only: no gradient flows. Does nothing where oneDNN cannot serve."""
    if not onednn_usable(module):
        yield
        return
    linears = [m for m in module.modules() if isinstance(m, nn.Linear) and m.bias is None]
    for linear in linears:
        packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), rows)

        def forward(x: Tensor, packed: Tensor = packed) -> Tensor:
            return torch.ops.mkldnn._linear_pointwise(x, packed, None, 'none', [], '')

        linear.forward = forward
    try:
        yield
    finally:
        for linear in linears:
            del linear.forward  # back to the class's forward
