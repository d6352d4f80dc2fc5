"""Hooks against GRPO's known failures: RewardHackingGuardHook (the best checkpoint by a held-out
metric, and a warning or a stop when the reward keeps rising while that metric falls) and
AdaptiveEntropyHook (the entropy bonus moved toward a target entropy)."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub

from argrpo.engine import AdaptiveEntropyHook, RewardHackingGuardHook


class FakeRunner:
    """What the hook reads and calls: the message hub, the iteration, the work dir, checkpoints."""

    def __init__(self, work_dir):
        self.message_hub = MessageHub.get_instance(f'guard_{id(self)}')
        self.work_dir, self.iter, self.saved = str(work_dir), 0, []
        self.train_loop = SimpleNamespace(stop_training=False)
        self.warnings = []
        self.logger = SimpleNamespace(warning=self.warnings.append)
        self.model = torch.nn.Linear(1, 1)  # unsharded: saved by the main process alone

    def train(self, rewards):
        for r in rewards:
            self.iter += 1
            self.message_hub.update_scalar('train/reward_mean', r)

    def save_checkpoint(self, out_dir, filename, **kwargs):
        self.saved.append(filename)
        (__import__('pathlib').Path(out_dir) / filename).write_bytes(b'checkpoint')


def test_keeps_the_best_and_stops_when_the_reward_rises_while_the_metric_falls(tmp_path):
    runner = FakeRunner(tmp_path)
    hook = RewardHackingGuardHook('heldout/accuracy_mean', patience=2, action='stop')
    # (rewards since the last evaluation, held-out accuracy at the evaluation)
    for rewards, accuracy in (([1.0, 1.2], 0.80), ([1.4, 1.5], 0.85), ([1.6], 0.83), ([1.5], 0.82)):
        runner.train(rewards)
        hook.after_val_epoch(runner, {'heldout/accuracy_mean': accuracy})
    # reward fell at the 4th evaluation: the streak is broken, no stop
    assert not runner.train_loop.stop_training and not runner.warnings
    assert runner.saved == ['best_heldout_accuracy_mean_iter_2.pth', 'best_heldout_accuracy_mean_iter_4.pth']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_heldout_accuracy_mean_iter_4.pth']
    for rewards, accuracy in (([1.7], 0.81), ([1.8], 0.80)):
        runner.train(rewards)
        hook.after_val_epoch(runner, {'heldout/accuracy_mean': accuracy})
    assert runner.train_loop.stop_training
    (warning,) = runner.warnings
    assert warning.startswith('possible reward hacking: the reward rose at 2 evaluations in a row (now 1.8000)')
    assert warning.endswith('best_heldout_accuracy_mean_iter_4.pth; training stops')


def test_the_reward_compared_is_the_mean_since_the_previous_evaluation(tmp_path):
    """Windows whose mean and last value move in opposite directions: the mean decides."""
    runner = FakeRunner(tmp_path)
    hook = RewardHackingGuardHook('acc', patience=1, save_best=False)
    # mean 1.5 -> 1.8 (up) while the last value falls 2.0 -> 1.8; the metric falls: a warning
    for rewards, accuracy in (([1.0, 2.0], 0.8), ([1.8, 1.8, 1.8], 0.7)):
        runner.train(rewards)
        hook.after_val_epoch(runner, {'acc': accuracy})
    (warning,) = runner.warnings
    assert warning.startswith('possible reward hacking: the reward rose at 1 evaluations in a row (now 1.8000)')
    # mean 1.8 -> 1.7 (down) while the last value rises 1.8 -> 3.0; the metric falls: no warning
    runner.train([0.5, 1.6, 3.0])
    hook.after_val_epoch(runner, {'acc': 0.6})
    assert len(runner.warnings) == 1 and hook.strikes == 0


def test_fid_is_better_lower_and_warning_does_not_stop(tmp_path):
    runner = FakeRunner(tmp_path)
    hook = RewardHackingGuardHook('FID', rule='less', patience=1, save_best=False)
    for rewards, fid in (([1.0], 5.0), ([1.1], 4.0), ([1.2], 6.0)):
        runner.train(rewards)
        hook.after_val_epoch(runner, {'FID': fid})
    assert not runner.train_loop.stop_training and runner.saved == []
    assert len(runner.warnings) == 1 and 'FID got worse (now 6.0000)' in runner.warnings[0]


def test_a_metric_the_evaluation_does_not_report_is_an_error(tmp_path):
    with pytest.raises(KeyError, match="watches 'FID'.*reports: heldout/accuracy_mean"):
        RewardHackingGuardHook('FID').after_val_epoch(FakeRunner(tmp_path), {'heldout/accuracy_mean': 0.5})
    with pytest.raises(ValueError, match='rule'):
        RewardHackingGuardHook('FID', rule='lower')


def test_adaptive_entropy_moves_the_bonus_toward_the_target_and_resumes(tmp_path):
    from argrpo.algorithms import GRPO
    runner = FakeRunner(tmp_path)
    runner.model = SimpleNamespace(algorithm=GRPO(group_size=2))
    hook = AdaptiveEntropyHook(target_ratio=0.9, lr=0.5, init_coef=0.1, max_coef=0.3)
    hook.before_train(runner)
    assert runner.model.algorithm.entropy_coef == 0.1
    coefs = []
    for entropy in (2.0, 1.9, 1.6, 1.5, 1.4, 1.3, 2.2, 2.4, 2.4):  # the target is 0.9 x 2.0 = 1.8
        hook.after_train_iter(runner, 0, outputs={'entropy': torch.tensor(entropy)})
        coefs.append(runner.model.algorithm.entropy_coef)
    # coef + 0.5 * (1.8 - e), clipped to [0, 0.3]: both bounds are reached (0.25 + 0.2 = 0.45 -> 0.3)
    assert coefs == pytest.approx([0.0, 0.0, 0.1, 0.25, 0.3, 0.3, 0.1, 0.0, 0.0])
    assert runner.message_hub.get_scalar('train/entropy_coef').current() == 0.0
    hook.after_train_iter(runner, 0, outputs={'skipped': torch.tensor(1.0)})  # no entropy: unchanged
    hook.coef = 0.2
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    again = AdaptiveEntropyHook(target_ratio=0.5)
    again.after_load_checkpoint(runner, checkpoint)
    assert (again.coef, again.target) == (0.2, pytest.approx(1.8)) and runner.model.algorithm.entropy_coef == 0.2
    with pytest.raises(ValueError, match='one of the two'):
        AdaptiveEntropyHook()
