"""Mixed precision on every device, CPU included.

MMEngine's ``AmpOptimWrapper`` refuses to run without a GPU, so bf16 training could not be
tested on a CPU. This wrapper autocasts on the device of the parameters (bf16 autocast on a CPU),
scales the loss for float16 only, and exposes its ``autocast()`` so that ``ARGRPOModel`` runs the
rollout and the scoring of old and reference log-probs in the same precision as the update.
"""
import contextlib
from typing import Iterator

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from argrpo.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward passes run under ``torch.autocast``.

    Args:
        dtype: 'bfloat16' (no loss scaling needed) or 'float16' (dynamic loss scaling with
            ``torch.amp.GradScaler``; ``loss_scale`` a number fixes the initial scale).
        **kwargs: as ``OptimWrapper`` (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, dtype: str = 'bfloat16', loss_scale='dynamic', **kwargs):
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        self.cast_dtype = getattr(torch, dtype)
        self.loss_scaler = None
        if dtype == 'float16':
            init = {} if loss_scale == 'dynamic' else dict(init_scale=float(loss_scale))
            self.loss_scaler = torch.amp.GradScaler(self.device_type, **init)

    @property
    def device_type(self) -> str:
        return self.optimizer.param_groups[0]['params'][0].device.type

    def autocast(self) -> torch.autocast:
        """The precision of training, for every forward pass of an iteration."""
        return torch.autocast(self.device_type, dtype=self.cast_dtype)

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), self.autocast():
            yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        super().backward(loss if self.loss_scaler is None else self.loss_scaler.scale(loss), **kwargs)

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            return super().step(**kwargs)
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update()

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if self.loss_scaler is not None and scaler_state is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)
