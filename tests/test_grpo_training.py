"""GRPO end to end on CPU: it learns with a quiet log, it resumes exactly, it refuses non-finite
values, its checkpoints are atomic, 2 processes agree with 1, and another generator family plugs
in through the generator interface alone."""
import glob
import itertools
import json
import os
import os.path as osp
import subprocess
import threading

import mmengine.registry
import pytest
import torch
from argrpo_testing import TINY_VQ, randomize, tiny_grpo_model
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.runner.checkpoint import load_state_dict
from torch import nn

from argrpo import apis
from argrpo.engine import AutocastOptimWrapper
from argrpo.engine.checkpointing import AtomicLocalBackend
from argrpo.generators import ARImageGenerator
from argrpo.models import NonFiniteError
from argrpo.registry import GENERATORS, MODEL_WRAPPERS, TOKENIZERS
from argrpo.rewards import BaseReward, GradientReward

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RUN_IDS = itertools.count()
CONFIG = osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py')


@pytest.fixture(scope='module')
def vq_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('vq') / 'vq.pt'
    torch.save({'model': randomize(TOKENIZERS.build(dict(TINY_VQ, codebook_size=8)), std=0.2).state_dict()}, path)
    return str(path)


def run_train(work_dir, vq_file, resume=None, amp=None, **options):
    # a unique experiment name: each runner gets its own logger and message hub
    options = {'model.tokenizer.checkpoint': vq_file, 'experiment_name': f'run{next(RUN_IDS)}', **options}
    return apis.train(apis.train_config(apis.load_config(CONFIG, options, str(work_dir)), resume=resume, amp=amp))


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
    assert glob.glob(str(tmp_path / '*' / 'vis_data' / 'vis_image' / 'rollout_samples_10.png'))
    # the log holds no warning (MMEngine's registry searches, FileClient notices, dataset meta)
    (log_file,) = glob.glob(str(tmp_path / '*' / '*.log'))
    with open(log_file) as f:
        warnings = [line for line in f if ' - WARNING - ' in line]
    assert not warnings, warnings


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, vq_file):
    opts = {'train_cfg.max_iters': 6, 'default_hooks.checkpoint.interval': 3}
    whole = run_train(tmp_path / 'whole', vq_file, **opts)
    first = run_train(tmp_path / 'parts', vq_file, **dict(opts, **{'train_cfg.max_iters': 3}))
    assert first.iter == 3
    second = run_train(tmp_path / 'parts', vq_file, resume=str(tmp_path / 'parts' / 'iter_3.pth'), **opts)
    a, b = whole.model.state_dict(), second.model.state_dict()
    assert any(k.startswith('reference.') for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    sa, sb = whole.optim_wrapper.state_dict()['state'], second.optim_wrapper.state_dict()['state']
    torch.testing.assert_close(sa[0]['exp_avg'], sb[0]['exp_avg'], rtol=0, atol=0)
    torch.testing.assert_close(history(whole, 'reward_mean')[3:], history(second, 'reward_mean')[-3:],
                               rtol=0, atol=0)


def test_amp_trains_in_bfloat16_on_the_cpu(tmp_path, vq_file):
    """What ``tools/train.py CONFIG --amp`` does: the whole iteration in bf16 autocast, on policy."""
    runner = run_train(tmp_path, vq_file, amp='bfloat16', **{
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 10, 'model.sampler.cfg_scale': 4.0,
        'model.sampler.top_k': 4, 'model.sampler.top_p': 0.9})
    assert isinstance(runner.optim_wrapper, AutocastOptimWrapper) and runner.iter == 2
    assert (history(runner, 'onpolicy_log_ratio_max') <= 1e-5).all()
    assert torch.isfinite(history(runner, 'loss')).all() and (history(runner, 'skipped') == 0).all()


def test_adaptive_entropy_hook_drives_the_bonus_in_a_run(tmp_path, vq_file):
    runner = run_train(tmp_path, vq_file, **{'train_cfg.max_iters': 3, 'train_cfg.val_interval': 10,
                                             'custom_hooks': [dict(type='AdaptiveEntropyHook', target=5.0, lr=0.1)]})
    coefs = history(runner, 'entropy_coef')
    # the tiny GPT's entropy is below ln(8) < 5 nats: the bonus grows every iteration
    assert len(coefs) == 3 and (coefs.diff() > 0).all()
    assert runner.model.algorithm.entropy_coef == pytest.approx(coefs[-1].item())


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


class NaNAfterFirst(BaseReward):
    def score(self, images, prompts):
        out = images.float().mean((1, 2, 3))
        out[1] = float('nan')
        return out


def tiny_model(**kwargs):
    """``tiny_grpo_model`` rewarded by ``NaNAfterFirst`` unless told otherwise."""
    kwargs.setdefault('reward', dict(type='WeightedSum', rewards=[dict(type=NaNAfterFirst, name='flaky')]))
    return tiny_grpo_model(**kwargs)


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
    assert not model.reward.training and not any(p.requires_grad for p in model.reward.parameters())
    assert tiny_model(algorithm=dict(type='GRPO', group_size=2, beta=0.0)).reference is None
    # checkpoints hold what training changes; the frozen parts come from their own files
    assert {key.split('.')[0] for key in model.state_dict()} == {'policy', 'reference', 'reference_synced'}


def test_reference_is_rebuilt_from_the_generator_file_until_synced(tmp_path):
    """While the reference is the generator's file, checkpoints leave it out and loading keeps
    the one built from the file; once synced it is saved and restored (MMEngine's loader)."""
    gpt = dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32, vocab_size=64, block_size=16,
               num_classes=4, checkpoint=str(tmp_path / 'gpt.pt'))
    torch.save({'model': randomize(GENERATORS.build(dict(gpt, checkpoint=None))).state_dict()}, gpt['checkpoint'])
    model = tiny_model(generator=gpt)
    with torch.no_grad():
        for p in model.policy.parameters():
            p.add_(0.1)  # training moved the policy
    saved = model.state_dict()
    assert not any(key.startswith('reference.') for key in saved) and any(k.startswith('policy.') for k in saved)
    resumed = tiny_model(generator=gpt)
    load_state_dict(resumed, saved, strict=True)
    for a, b in zip(resumed.reference.parameters(), model.reference.parameters()):
        assert torch.equal(a, b)  # the file's weights, not the trained policy's
    model.sync_reference(momentum=0.5)
    saved = model.state_dict()
    assert any(key.startswith('reference.') for key in saved)
    resumed = tiny_model(generator=gpt)
    load_state_dict(resumed, saved, strict=True)
    assert resumed.reference_synced and 'reference' not in resumed.file_weights
    for a, b in zip(resumed.reference.parameters(), model.reference.parameters()):
        assert torch.equal(a, b)
    # a checkpoint of before reference_synced existed: its reference counts as synced
    del saved['reference_synced']
    older = tiny_model(generator=gpt)
    load_state_dict(older, saved, strict=True)
    assert older.reference_synced and any(key.startswith('reference.') for key in older.state_dict())
    for a, b in zip(older.reference.parameters(), model.reference.parameters()):
        assert torch.equal(a, b)


def logged_scalars(work_dir):
    """What the LoggerHook wrote each training iteration (vis_data/scalars.json, full precision)."""
    (path,) = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    with open(path) as f:
        return [record for record in map(json.loads, f) if 'loss' in record]


PROBE = """
# Imported at the start of every Python process of a test's dist_train (PYTHONPATH): after
# Runner.train, each rank writes what its policy's first parameter is, shard or whole tensor.
import json, os
if os.environ.get('ARGRPO_PROBE_DIR'):
    import mmengine.runner
    _train = mmengine.runner.Runner.train

    def train(self):
        model = _train(self)
        name, param = next((n, p) for n, p in self.model.named_parameters() if 'policy' in n)
        local = param.to_local() if hasattr(param, 'to_local') else param
        with open(os.path.join(os.environ['ARGRPO_PROBE_DIR'], f'rank{self.rank}.json'), 'w') as f:
            json.dump(dict(name=name, type=type(param).__name__, local=local.numel(), numel=param.numel()), f)
        return model

    mmengine.runner.Runner.train = train
"""


def dist_train(work_dir, vq_file, port, options, *args, probe=None):
    """``tools/dist_train.sh`` with 2 processes on the CPU (gloo); with ``probe`` (a folder),
    each rank writes there what its policy's first parameter is after training."""
    env = dict(os.environ, PORT=str(port), PYTHONPATH=ROOT)
    if probe is not None:
        os.makedirs(probe / 'site', exist_ok=True)
        (probe / 'site' / 'sitecustomize.py').write_text(PROBE)
        env.update(PYTHONPATH=f'{probe / "site"}:{ROOT}', ARGRPO_PROBE_DIR=str(probe))
    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2', '--work-dir', str(work_dir), *args,
           '--cfg-options', f'model.tokenizer.checkpoint={vq_file}', *[f'{k}={v}' for k, v in options.items()]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize('sharded', [False, True], ids=['ddp', 'fsdp'])
def test_two_cpu_processes_match_one(tmp_path, vq_file, sharded):
    """Sampled rollouts from non-trivial weights, SGD with momentum without clipping, 2
    iterations of 2 inner epochs x 2 minibatches: 2 ranks x 1 prompt (DDP, or FSDP sharding the
    policy and the reference) and 1 rank x 2 prompts draw the same samples (randomness tied to
    the prompts), form the same minibatches and, with gradients averaged across ranks, make the
    same updates and log the same statistics. FSDP's checkpoints hold whole tensors: a run resumed
    from one under FSDP continues exactly, and one process without FSDP resumes from it too."""
    gpt_file = str(tmp_path / 'gpt.pt')
    cfg = apis.load_config(CONFIG)
    torch.save({'model': randomize(GENERATORS.build(cfg.model.generator), std=0.2).state_dict()}, gpt_file)
    opts = {'train_cfg.max_iters': 2, 'train_dataloader.sampler.shuffle': False, 'model.generator.checkpoint': gpt_file,
            'model.algorithm.inner_epochs': 2, 'model.algorithm.minibatches': 2, 'randomness.seed': 3,
            'optim_wrapper.optimizer.type': 'SGD', 'optim_wrapper.optimizer.lr': 0.5,
            'optim_wrapper.optimizer.momentum': 0.9, 'optim_wrapper.clip_grad': None,
            'default_hooks.checkpoint.interval': 1}
    single = run_train(tmp_path / 'one', vq_file, **opts, **{'train_dataloader.batch_size': 2})
    fsdp = ['--fsdp'] if sharded else []
    dist_train(tmp_path / 'two', vq_file, 29611 + sharded, dict(opts, **{'train_dataloader.batch_size': 1}), *fsdp,
               probe=tmp_path / 'probe')
    # each rank held a shard of the policy under FSDP (a DTensor), the whole policy under DDP
    ranks = [json.loads((tmp_path / 'probe' / f'rank{r}.json').read_text()) for r in (0, 1)]
    for rank in ranks:
        if sharded:
            assert rank['type'] == 'DTensor' and 0 < rank['local'] < rank['numel'], ranks
        else:
            assert rank['type'] != 'DTensor' and rank['local'] == rank['numel'], ranks
    two = torch.load(tmp_path / 'two' / 'iter_2.pth', map_location='cpu', weights_only=False)
    start = GENERATORS.build(dict(cfg.model.generator, checkpoint=gpt_file)).state_dict()
    for key, value in single.model.state_dict().items():
        if key.startswith('policy.'):
            assert not torch.equal(value, start[key[len('policy.'):]]), key  # it trained
            torch.testing.assert_close(two['state_dict'][key], value, atol=1e-6, rtol=1e-5, msg=key)
    momentum = [state['momentum_buffer'] for state in two['optimizer']['state'].values()]
    expected = [state['momentum_buffer'] for state in single.optim_wrapper.state_dict()['state'].values()]
    assert len(momentum) == len(expected)
    for got, want in zip(momentum, expected):
        assert type(got) is torch.Tensor  # whole, not a shard
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    logs_one, logs_two = logged_scalars(tmp_path / 'one'), logged_scalars(tmp_path / 'two')
    assert len(logs_one) == len(logs_two) == 2
    for one, two_log in zip(logs_one, logs_two):
        assert one['reward_std'] > 0 and one['clip_frac'] > 0  # samples differ; later minibatches clip
        for key in ('reward_mean', 'reward_std', 'loss', 'kl', 'ratio', 'clip_frac', 'entropy',
                    'log_ratio_max', 'onpolicy_log_ratio_max', 'uniform_group_frac'):
            assert two_log[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6), key
    if sharded:
        dist_train(tmp_path / 'resumed', vq_file, 29613, dict(opts, **{'train_dataloader.batch_size': 1}), *fsdp,
                   '--resume', str(tmp_path / 'two' / 'iter_1.pth'))
        resumed = torch.load(tmp_path / 'resumed' / 'iter_2.pth', map_location='cpu', weights_only=False)
        for key, value in two['state_dict'].items():
            torch.testing.assert_close(resumed['state_dict'][key], value, atol=0, rtol=0, msg=key)
        # an ordinary checkpoint: one process without FSDP resumes from it too
        alone = run_train(tmp_path / 'alone', vq_file, resume=str(tmp_path / 'two' / 'iter_1.pth'),
                          **opts, **{'train_dataloader.batch_size': 2})
        for key, value in alone.model.state_dict().items():
            if key.startswith('policy.'):
                torch.testing.assert_close(value, two['state_dict'][key], atol=1e-6, rtol=1e-5, msg=key)


def test_rollout_images_reach_hooks_through_the_message_hub():
    model = tiny_model(reward=dict(type='GradientReward'), keep_images=3)
    optim = OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=0.1))
    log = model.train_step(dict(cond=[0, 1], prompt=['a', 'b']), optim)
    assert log['skipped'].item() == 0.0 and {'time_rollout', 'time_decode', 'time_reward', 'time_update'} <= set(log)
    images = MessageHub.get_current_instance().get_info('rollout_images')
    assert images.shape == (3, 3, 8, 8) and images.device.type == 'cpu'
    # the images are posted for this run only, not saved in checkpoints
    assert 'rollout_images' not in MessageHub.get_current_instance().state_dict()['runtime_info']


class ThreadRecordingReward(BaseReward):
    """GradientReward's score, noting the thread and batch size of each call."""

    def __init__(self):
        super().__init__('recorded')
        self.inner, self.calls = GradientReward(), []

    def score(self, images, prompts):
        self.calls.append((threading.current_thread() is threading.main_thread(), len(images)))
        return self.inner.score(images, prompts)


class WholeBatchReward(ThreadRecordingReward):
    per_sample = False  # compares the samples of a batch: never scored in chunks


class RendezvousReward(ThreadRecordingReward):
    """ThreadRecordingReward; the reward of chunk k waits (at most ``WAIT`` s) until the
    rollout of chunk k + 1 has started, and ``rendezvous_rollout`` makes the rollout of chunk
    k + 1 wait until the reward of chunk k has started: both must be in progress together."""

    WAIT = 5.0

    def __init__(self, chunks: int):
        super().__init__()
        self.chunks = chunks
        self.state, self.rollouts, self.rewards, self.missed = threading.Condition(), 0, 0, []

    def score(self, images, prompts):
        with self.state:
            k, self.rewards = self.rewards, self.rewards + 1
            self.state.notify_all()
            if k + 1 < self.chunks and not self.state.wait_for(lambda: self.rollouts > k + 1, self.WAIT):
                self.missed.append(f'the rollout of chunk {k + 1} did not start while chunk {k} was scored')
        return super().score(images, prompts)

    def rendezvous_rollout(self, rollout):
        def wrapped(*args, **kwargs):
            with self.state:
                k, self.rollouts = self.rollouts, self.rollouts + 1
                self.state.notify_all()
                if k and not self.state.wait_for(lambda: self.rewards >= k, self.WAIT):
                    self.missed.append(f'the reward of chunk {k - 1} did not start before chunk {k} was sampled')
            return rollout(*args, **kwargs)
        return wrapped


def test_rewards_of_a_chunk_are_computed_while_the_next_is_sampled():
    """Same samples, rewards and update with and without the overlap. With it, one reward call
    per chunk, each off the main thread, and chunk k scored while chunk k + 1 is sampled (a
    rendezvous of the two, which sampling every chunk before scoring any cannot meet). Without
    it, here because the reward compares the samples of a batch (``per_sample=False``): one
    call on the whole batch, whatever the chunks."""
    data = dict(cond=[0, 1, 2, 3], prompt=['a', 'b', 'c', 'd'], index=[0, 1, 2, 3], rollout_seed=5)
    runs = {}
    for overlap, reward in ((True, dict(type=RendezvousReward, chunks=3)), (False, dict(type=WholeBatchReward))):
        torch.manual_seed(0)
        model = tiny_model(reward=reward, rollout_chunk=3, overlap_reward=True, keep_images=5)
        if overlap:
            model.rollout = model.reward.rendezvous_rollout(model.rollout)
        log = model.train_step(data, OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=0.1)))
        images = MessageHub.get_current_instance().get_info('rollout_images')
        runs[overlap] = (log, model.reward.calls, images, [p.detach().clone() for p in model.policy.parameters()])
        if overlap:
            assert model.reward.missed == [] and (model.reward.rollouts, model.reward.rewards) == (3, 3)
    (log, calls, images, params), (serial_log, serial_calls, serial_images, serial_params) = runs[True], runs[False]
    assert calls == [(False, 3), (False, 3), (False, 2)] and serial_calls == [(True, 8)]
    for key in ('reward_mean', 'reward_std', 'reward_min', 'loss', 'kl'):
        assert log[key].item() == serial_log[key].item(), key
    assert images.shape[0] == 5 and torch.equal(images, serial_images)
    assert all(torch.equal(a, b) for a, b in zip(params, serial_params))


def test_forward_modes_follow_mmengine():
    model = tiny_model(reward=dict(type='GradientReward'))
    tokens, cond = torch.randint(0, 64, (2, 16)), torch.tensor([0, 3])
    log_probs, entropy = model(mode='tensor', tokens=tokens, cond=cond)
    assert log_probs.shape == entropy.shape == (2, 16)
    losses = model(mode='loss', tokens=tokens, cond=cond, old_log_probs=log_probs.detach(),
                   advantages=torch.tensor([1.0, -1.0]), ref_log_probs=log_probs.detach())
    assert losses['loss'].requires_grad and losses['ratio'].item() == pytest.approx(1.0)
    samples = model.val_step(dict(cond=[1, 2], prompt=['b', 'c'], index=[0, 1]))  # BaseModel's: 'predict'
    assert [s['index'] for s in samples] == [0, 1] and samples[0]['image'].shape == (3, 8, 8)
    with pytest.raises(ValueError, match='mode'):
        model(mode='log_prob', tokens=tokens, cond=cond)


def test_sync_reference_copies_or_moves_by_ema():
    model = tiny_model()
    with torch.no_grad():
        for p in model.policy.parameters():
            p.add_(1.0)
    ref, pol = next(model.reference.parameters()), next(model.policy.parameters())
    start = ref.clone()
    model.sync_reference(0.25)
    torch.testing.assert_close(ref, start + 0.25)
    model.sync_reference()
    assert torch.equal(ref, pol)


def test_ddp_wrapper_lives_in_the_argrpo_registry():
    assert MODEL_WRAPPERS.get('GRPODistributedDataParallel') is not None
    assert 'GRPODistributedDataParallel' not in mmengine.registry.MODEL_WRAPPERS.module_dict
    # how the Runner looks the configured wrapper up
    assert mmengine.registry.MODEL_WRAPPERS.get('argrpo.GRPODistributedDataParallel') is \
        MODEL_WRAPPERS.get('GRPODistributedDataParallel')


class BigramGenerator(ARImageGenerator):
    """A second generator family: the next token depends on the class and the previous token only.
    Its decoding state is the class of each row (the interface leaves the state to the family)."""

    def __init__(self, num_classes: int = 4, vocab_size: int = 64, block_size: int = 16):
        super().__init__()
        self.num_classes, self.block_size, self.cls_token_num = num_classes, block_size, 1
        self.first = nn.Embedding(num_classes + 1, vocab_size)  # + the null class
        self.next = nn.Embedding(vocab_size, vocab_size)

    def features(self, tokens, cond, cond_mask=None):
        return torch.cat([self.first(cond)[:, None], self.next(tokens[:, :-1])], 1)

    def head(self, hidden):
        return hidden.float()

    def new_caches(self, batch, max_len):
        return {}

    def prefill(self, cond, cond_mask, caches):
        return self.first(cond)

    def decode_step(self, tokens, pos, cond_mask, caches):
        return self.next(tokens)

    def check_condition(self, cond):
        if cond.dim() != 1:
            raise ValueError('class ids [B]')

    def null_condition(self, cond):
        return torch.full_like(cond, self.num_classes)


def test_a_second_generator_family_trains_with_grpo():
    model = tiny_model(generator=dict(type=BigramGenerator), reward=dict(type='GradientReward'),
                       sampler=dict(type='TokenSampler', cfg_scale=2.0))
    before = model.policy.next.weight.clone()
    optim = OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=1.0))
    log = model.train_step(dict(cond=[0, 1], prompt=['a', 'b']), optim)
    assert log['skipped'].item() == 0.0 and log['ratio'].item() == pytest.approx(1.0, abs=1e-5)
    assert not torch.equal(model.policy.next.weight, before)
    assert len(model.val_step(dict(cond=[2], prompt=['c'], index=[0]))) == 1


def test_a_generator_without_the_whole_interface_cannot_be_built():
    class NoCache(BigramGenerator):
        new_caches = ARImageGenerator.new_caches

    with pytest.raises(TypeError, match='new_caches'):
        NoCache()
