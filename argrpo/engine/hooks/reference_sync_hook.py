"""Keeps the reference policy of the KL penalty where the config wants it."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from argrpo.registry import HOOKS


@HOOKS.register_module()
class ReferenceSyncHook(Hook):
    """Every ``interval`` iterations copy the policy into the reference (``momentum=None``), or
    move it towards the policy by EMA: ``ref = (1 - momentum) * ref + momentum * policy``.
    AR-GRPO never syncs (the reference stays the initial policy): leave this hook out."""

    priority = 'LOW'

    def __init__(self, interval: int = 1, momentum: Optional[float] = None):
        if interval < 1 or (momentum is not None and not 0 < momentum <= 1):
            raise ValueError('interval must be >= 1 and momentum in (0, 1]')
        self.interval, self.momentum = interval, momentum

    @torch.no_grad()
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if (runner.iter + 1) % self.interval:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if model.reference is None:
            return
        for ref, pol in zip(model.reference.parameters(), model.policy.parameters()):
            if self.momentum is None:
                ref.copy_(pol)
            else:
                ref.lerp_(pol, self.momentum)
