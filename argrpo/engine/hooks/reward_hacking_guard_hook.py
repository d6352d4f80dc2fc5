"""A guard against reward hacking: the training reward rising while a held-out metric falls."""
import os
import os.path as osp
from typing import Dict, Optional

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from argrpo.registry import HOOKS
from ..checkpointing import whole_state


@HOOKS.register_module()
class RewardHackingGuardHook(Hook):
    """After each evaluation, compares a held-out metric (one the policy is not trained on: a
    held-out judge's accuracy, FID) with the mean training reward since the previous evaluation.
    Keeps the checkpoint of the best evaluation by the metric (``best_<metric>_iter_<i>.pth`` in
    the work dir, the previous best removed), and when the reward rose while the metric got worse
    at ``patience`` evaluations in a row, warns or (``action='stop'``) ends training.

    Args:
        metric: the evaluation metric's key, e.g. 'heldout/accuracy_mean' or 'FID'.
        rule: 'greater' (higher is better) or 'less' (FID).
        reward: the training log's reward scalar (``train/<reward>`` in the message hub).
        patience: consecutive evaluations of rising reward and worsening metric before acting.
        action: 'warn' or 'stop'.
        save_best: keep the best checkpoint by ``metric``.
    The guard's memory (best value, strikes) starts afresh when a run is resumed.
    """

    priority = 'LOW'

    def __init__(self, metric: str, rule: str = 'greater', reward: str = 'reward_mean', patience: int = 2,
                 action: str = 'warn', save_best: bool = True):
        if rule not in ('greater', 'less') or action not in ('warn', 'stop') or patience < 1:
            raise ValueError("rule is 'greater' or 'less', action 'warn' or 'stop', patience >= 1")
        self.metric, self.rule, self.reward, self.patience = metric, rule, reward, patience
        self.action, self.save_best = action, save_best
        self.best: Optional[float] = None
        self.best_file: Optional[str] = None
        self.previous: Optional[tuple] = None  # (reward, metric) at the previous evaluation
        self.strikes, self.seen = 0, 0

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.rule == 'greater' else a < b

    def _mean_reward_since_last(self, runner) -> Optional[float]:
        key = f'train/{self.reward}'
        if key not in runner.message_hub.log_scalars:
            return None
        values = runner.message_hub.get_scalar(key).data[0]
        recent, self.seen = values[self.seen:], len(values)
        return float(np.mean(recent)) if len(recent) else None

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        metrics = metrics or {}
        if self.metric not in metrics:
            raise KeyError(f'RewardHackingGuardHook watches {self.metric!r}, which the evaluation does not '
                           f'report; it reports: {", ".join(sorted(metrics)) or "nothing"}')
        value, reward = float(metrics[self.metric]), self._mean_reward_since_last(runner)
        if self.save_best and (self.best is None or self._better(value, self.best)):
            self._save_best(runner, value)
        if reward is None:
            return
        if self.previous is not None:
            reward_up = reward > self.previous[0]
            metric_down = self._better(self.previous[1], value)
            self.strikes = self.strikes + 1 if reward_up and metric_down else 0
            if self.strikes >= self.patience:
                self._act(runner, reward, value)
        self.previous = (reward, value)

    def _save_best(self, runner, value: float) -> None:
        self.best = value
        name = f'best_{self.metric.replace("/", "_")}_iter_{runner.iter}.pth'
        with whole_state(runner, optimizer=False):  # every process gathers a sharded model, the main one saves
            runner.save_checkpoint(runner.work_dir, name, save_optimizer=False, save_param_scheduler=False)
        if (is_main_process() and self.best_file and self.best_file != name
                and osp.isfile(osp.join(runner.work_dir, self.best_file))):
            os.remove(osp.join(runner.work_dir, self.best_file))
        self.best_file = name

    def _act(self, runner, reward: float, value: float) -> None:
        message = (f'possible reward hacking: the reward rose at {self.strikes} evaluations in a row (now '
                   f'{reward:.4f}) while {self.metric} got worse (now {value:.4f}); the best checkpoint by it '
                   f'is {self.best_file or "not kept"}')
        if self.action == 'stop':
            runner.train_loop.stop_training = True
            message += '; training stops'
        runner.logger.warning(message)
