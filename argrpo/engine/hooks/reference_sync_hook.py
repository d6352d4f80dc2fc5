"""Keeps the reference policy of the KL penalty where the config wants it."""
from typing import Optional

from mmengine.hooks import Hook

from argrpo.registry import HOOKS
from argrpo.utils import unwrap_model


@HOOKS.register_module()
class ReferenceSyncHook(Hook):
    """Every ``interval`` iterations copy the policy into the reference (``momentum=None``), or
    move it towards the policy by EMA: ``ref = (1 - momentum) * ref + momentum * policy``
    (the model's ``sync_reference``). AR-GRPO never syncs (the reference stays the initial
    policy): leave this hook out."""

    priority = 'LOW'

    def __init__(self, interval: int = 1, momentum: Optional[float] = None):
        if interval < 1 or (momentum is not None and not 0 < momentum <= 1):
            raise ValueError('interval must be >= 1 and momentum in (0, 1]')
        self.interval, self.momentum = interval, momentum

    def before_train(self, runner) -> None:
        unwrap_model(runner.model).check_sync()  # a misconfigured run fails now, not at the first sync

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if (runner.iter + 1) % self.interval == 0:
            unwrap_model(runner.model).sync_reference(self.momentum)
