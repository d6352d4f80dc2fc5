"""GRPO end to end on CPU: it learns, it resumes exactly, it refuses non-finite values, its
checkpoints are atomic, and 2 processes agree with 1."""
import itertools
import os
import os.path as osp
import subprocess

import pytest
import torch
from argrpo_testing import TINY_VQ, randomize
from mmengine.optim import OptimWrapper

from argrpo.engine.launch import load_tool
from argrpo.engine.checkpointing import AtomicLocalBackend
from argrpo.models import NonFiniteError
from argrpo.registry import MODELS, REWARDS, TOKENIZERS
from argrpo.rewards import BaseReward

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RUN_IDS = itertools.count()
CONFIG = osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py')


@pytest.fixture(scope='module')
def vq_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('vq') / 'vq.pt'
    torch.save({'model': randomize(TOKENIZERS.build(dict(TINY_VQ, codebook_size=8)), std=0.2).state_dict()}, path)
    return str(path)


def run_train(work_dir, vq_file, *options, resume=None):
    # a unique experiment name: each runner gets its own logger and message hub
    argv = [CONFIG, '--work-dir', str(work_dir), '--cfg-options', f'model.tokenizer.checkpoint={vq_file}',
            f'experiment_name=run{next(RUN_IDS)}', *options]
    if resume:
        argv += ['--resume', resume]
    return load_tool('train').main(argv)


def history(runner, key):
    return torch.tensor(runner.message_hub.get_scalar(f'train/{key}').data[0])


@pytest.mark.slow
def test_grpo_raises_the_reward_well_beyond_noise(tmp_path, vq_file):
    runner = run_train(tmp_path, vq_file)
    mean, std = history(runner, 'reward_mean'), history(runner, 'reward_std')
    first, last = mean[:5].mean(), mean[-5:].mean()
    noise = std[:5].mean() / (32 * 5) ** 0.5  # std of a 5-iteration mean of 32 samples each
    assert last - first > 5 * noise, (first, last, noise)
    assert osp.isfile(tmp_path / 'iter_40.pth')
    # TensorBoard events and the sample grids were written
    events = [f for _, _, files in os.walk(tmp_path) for f in files if f.startswith('events.out')]
    assert events


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, vq_file):
    opts = ('train_cfg.max_iters=6', 'default_hooks.checkpoint.interval=3')
    whole = run_train(tmp_path / 'whole', vq_file, *opts)
    first = run_train(tmp_path / 'parts', vq_file, 'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3')
    assert first.iter == 3
    second = run_train(tmp_path / 'parts', vq_file, *opts, resume=str(tmp_path / 'parts' / 'iter_3.pth'))
    a, b = whole.model.state_dict(), second.model.state_dict()
    assert any(k.startswith('reference.') for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    sa, sb = whole.optim_wrapper.state_dict()['state'], second.optim_wrapper.state_dict()['state']
    torch.testing.assert_close(sa[0]['exp_avg'], sb[0]['exp_avg'], rtol=0, atol=0)
    torch.testing.assert_close(history(whole, 'reward_mean')[3:], history(second, 'reward_mean')[-3:],
                               rtol=0, atol=0)


def test_atomic_checkpoint_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / 'last.pth'
    backend = AtomicLocalBackend()
    backend.put(b'previous', path)

    def broken_fsync(fd):
        raise KeyboardInterrupt('killed while writing')
    monkeypatch.setattr(os, 'fsync', broken_fsync)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new but interrupted', path)
    assert path.read_bytes() == b'previous'
    assert os.listdir(tmp_path) == ['last.pth']


@REWARDS.register_module(force=True)
class NaNAfterFirst(BaseReward):
    def score(self, images, prompts):
        out = images.float().mean((1, 2, 3))
        out[1] = float('nan')
        return out


def tiny_model(**kwargs):
    kwargs.setdefault('algorithm', dict(type='GRPO', group_size=2, beta=0.1))
    return MODELS.build(dict(
        type='ARGRPOModel',
        generator=dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32, vocab_size=64,
                       block_size=16, num_classes=4),
        tokenizer=TINY_VQ, sampler=dict(type='TokenSampler'),
        reward=dict(type='WeightedSum', rewards=[dict(type='NaNAfterFirst', name='flaky')]), **kwargs))


def test_nonfinite_reward_skips_the_step_or_stops(capsys):
    model = tiny_model()
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    optim = OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=1.0))
    log = model.train_step(dict(cond=[0, 1], prompt=['a', 'b']), optim)
    assert log['skipped'].item() == 1.0
    for k, v in model.policy.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(NonFiniteError, match=r'iteration \d+: reward component flaky is not finite'):
        tiny_model(on_nonfinite='raise').train_step(dict(cond=[0, 1], prompt=['a', 'b']), optim)


def test_reference_is_a_frozen_copy_of_the_policy():
    model = tiny_model()
    for (name, p), r in zip(model.policy.named_parameters(), model.reference.parameters()):
        assert torch.equal(p, r) and not r.requires_grad and p.requires_grad, name
    model.train()
    assert model.policy.training and not model.reference.training and not model.tokenizer.training
    assert tiny_model(algorithm=dict(type='GRPO', group_size=2, beta=0.0)).reference is None
    # checkpoints hold what training changes; the frozen parts come from their own files
    assert {key.split('.')[0] for key in model.state_dict()} == {'policy', 'reference'}


@pytest.mark.slow
def test_two_cpu_processes_match_one(tmp_path, vq_file):
    """Greedy rollouts make the samples deterministic: 2 ranks x 1 prompt and 1 rank x 2 prompts
    see the same groups, so the global reward statistics and the update agree."""
    opts = ['train_cfg.max_iters=1', 'model.sampler.greedy=True', 'train_dataloader.sampler.shuffle=False',
            'model.algorithm.inner_epochs=1', 'model.algorithm.minibatches=1', 'randomness.seed=3']
    single = run_train(tmp_path / 'one', vq_file, *opts, 'train_dataloader.batch_size=4')
    env = dict(os.environ, PORT='29611', PYTHONPATH=ROOT)
    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2', '--work-dir', str(tmp_path / 'two'),
           '--cfg-options', f'model.tokenizer.checkpoint={vq_file}', *opts, 'train_dataloader.batch_size=2']
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'two' / 'iter_1.pth')
    two = torch.load(tmp_path / 'two' / 'iter_1.pth', map_location='cpu', weights_only=False)
    one = single.model.state_dict()
    for key, value in one.items():
        if key.startswith('policy.'):
            torch.testing.assert_close(two['state_dict'][key], value, atol=1e-5, rtol=1e-4, msg=key)
    logs = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if 'reward_mean:' in line]
    assert logs, proc.stdout[-2000:]
    logged = float(logs[-1].split('reward_mean:')[1].split()[0])
    assert logged == pytest.approx(history(single, 'reward_mean')[0].item(), abs=2e-4)
