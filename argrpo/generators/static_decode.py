"""Decoding with every shape fixed over the rollout, so that torch.compile can capture one step
(as a CUDA graph on CUDA, ``mode='reduce-overhead'``).

The position goes in as a LongTensor [1] and each step attends to the whole preallocated cache
under a mask (``ARImageGenerator.decode_step_static``). The caches of a generator are kept for
its next rollout of the same shape: a CUDA graph replays on the addresses it was recorded with,
and new ones would make it re-record (LlamaGen and gpt-fast keep theirs in the model likewise).
"""
import functools
import weakref
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor, nn

# decode_step's arguments: tokens [B], an int position, the caption mask, the caches
Step = Callable[[Tensor, int, Optional[Tensor], Any], Tensor]

_kept_caches: 'weakref.WeakKeyDictionary[nn.Module, Tuple[tuple, Any]]' = weakref.WeakKeyDictionary()


def _static_step(generator: nn.Module, tokens: Tensor, pos: Tensor, cond_mask: Optional[Tensor],
                 caches: Any) -> Tensor:
    return generator.decode_step_static(tokens, pos, cond_mask, caches)


@functools.lru_cache(maxsize=None)
def _compiled_step() -> Callable:
    """``_static_step`` under torch.compile, made at the first compiled rollout (torch.compile
    imports its compiler: seconds that a run which never compiles should not pay at import);
    traced at its first call, once per generator, batch and cache length (static shapes)."""
    return torch.compile(_static_step, mode='reduce-overhead', dynamic=False)


def kept_caches(generator: nn.Module, batch: int, max_len: int) -> Any:
    """``generator.new_caches(batch, max_len)``, or the ones of its last call when batch, length,
    device and dtypes (of the weights and of autocast) are the same. Positions past the one being
    decoded are masked, so what an earlier rollout left there is never read."""
    weight = next(generator.parameters())
    device = weight.device.type
    key = (batch, max_len, weight.device, weight.dtype,
           torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None)
    if _kept_caches.get(generator, (None, ))[0] != key:
        _kept_caches.pop(generator, None)  # free the old caches before allocating the new
        _kept_caches[generator] = key, generator.new_caches(batch, max_len)
    return _kept_caches[generator][1]


def static_decoder(generator: nn.Module, batch: int, max_len: int, compiled: bool) -> Tuple[Any, Step]:
    """Caches for a rollout of ``batch`` sequences of ``max_len`` positions, and a step taking
    ``decode_step``'s arguments that runs ``decode_step_static``, under torch.compile if
    ``compiled``."""
    caches = kept_caches(generator, batch, max_len)
    device = next(generator.parameters()).device
    run = _compiled_step() if compiled else _static_step

    def step(tokens: Tensor, pos: int, cond_mask: Optional[Tensor], caches: Any) -> Tensor:
        if compiled:
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's logits are used up
        return run(generator, tokens, torch.full((1, ), pos, device=device), cond_mask, caches)

    return caches, step
