"""Adaptive entropy control: GRPO's entropy bonus adjusted each iteration toward a target."""
from typing import Optional

from mmengine.hooks import Hook

from argrpo.registry import HOOKS
from argrpo.utils import unwrap_model


@HOOKS.register_module()
class AdaptiveEntropyHook(Hook):
    """Holds the policy's mean per-token entropy (the ``entropy`` of the training log) near a
    target by moving the GRPO entropy bonus after each iteration:
    ``coef = clip(coef + lr * (target - entropy), 0, max_coef)``, logged as ``entropy_coef``.

    Args:
        target: the entropy to hold, in nats per token; or
        target_ratio: that ratio of the first iteration's entropy (e.g. 0.9).
        lr: how fast the coefficient moves per nat of error.
        init_coef: the coefficient at the start (0: no bonus until entropy falls below target).
        max_coef: its upper bound.
    The coefficient and target travel in the checkpoint's meta, so a resumed run continues.
    """

    priority = 'NORMAL'

    def __init__(self, target: Optional[float] = None, target_ratio: Optional[float] = None, lr: float = 0.01,
                 init_coef: float = 0.0, max_coef: float = 1.0):
        if (target is None) == (target_ratio is None):
            raise ValueError('give the entropy to hold as target= (nats per token) or target_ratio= (of the '
                             'first iteration), one of the two')
        if lr <= 0 or not 0 <= init_coef <= max_coef:
            raise ValueError('lr must be > 0 and 0 <= init_coef <= max_coef')
        self.target, self.target_ratio, self.lr = target, target_ratio, lr
        self.coef, self.max_coef = init_coef, max_coef

    def _set(self, runner) -> None:
        unwrap_model(runner.model).algorithm.entropy_coef = self.coef

    def before_train(self, runner) -> None:
        self._set(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs or 'entropy' not in outputs:  # a skipped iteration
            return
        entropy = float(outputs['entropy'])
        if self.target is None:
            self.target = self.target_ratio * entropy
        self.coef = min(max(self.coef + self.lr * (self.target - entropy), 0.0), self.max_coef)
        self._set(runner)
        runner.message_hub.update_scalar('train/entropy_coef', self.coef)
        runner.message_hub.update_scalar('train/entropy_target', self.target)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['adaptive_entropy'] = dict(coef=self.coef, target=self.target)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get('adaptive_entropy')
        if state is not None:
            self.coef, self.target = state['coef'], state['target']
            self._set(runner)
