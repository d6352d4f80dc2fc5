"""LeaveOneOutFID: each leave-one-out reward against a direct recomputation with the sample
removed, the running moments, its place in WeightedSum, and its state across a checkpoint."""
import numpy as np
import pytest
import torch
from argrpo_testing import direct_fd, mixture, tiny_grpo_model
from mmengine.runner.checkpoint import load_state_dict

from argrpo.registry import FEATURE_EXTRACTORS, REWARDS
from argrpo.rewards import distribution

DIM = 96  # test_resnet's pooled features


@pytest.fixture(scope='module')
def real(extractor_cfg, tmp_path_factory):
    """A features file of 'real' samples of a known Gaussian: (path, mixing matrix, mean)."""
    rng = np.random.default_rng(0)
    mix, shift = rng.normal(size=(DIM, DIM)) / np.sqrt(DIM), rng.normal(size=DIM)
    pool = rng.normal(size=(2000, DIM)) @ mix + shift
    path = tmp_path_factory.mktemp('reference') / 'real.npz'
    np.savez(path, extractor=FEATURE_EXTRACTORS.build(extractor_cfg).identity, pool=pool)
    return str(path), mix, shift, pool


def build(extractor_cfg, reference, **kwargs):
    return REWARDS.build(dict(type='LeaveOneOutFID', feature_extractor=extractor_cfg, reference=reference, **kwargs))


def direct_rewards(features, real_pool, a=0.0, running=None):
    """Each sample's reward by recomputing the statistics of the batch without it."""
    mu_real, c_real = real_pool.mean(0), np.cov(real_pool, rowvar=False)

    def fd(batch):
        moments = (batch.mean(0), np.cov(batch, rowvar=False))
        return direct_fd(mu_real, c_real, *(mixture(a, running, moments) if running else moments))
    everything = fd(features)
    return np.array([fd(np.delete(features, i, axis=0)) - everything for i in range(len(features))])


@pytest.mark.parametrize('ema', [None, 0.7])
def test_each_reward_is_the_distance_without_the_sample_minus_the_distance_with_all(extractor_cfg, real, ema):
    path, mix, shift, pool = real
    rng = np.random.default_rng(1)
    first, second = (rng.normal(size=(120, DIM)) @ mix * 1.3 + shift + 0.2 for _ in range(2))
    reward = build(extractor_cfg, path, ema=ema, scale=3.0)
    np.testing.assert_allclose(reward.leave_one_out(first), 3.0 * direct_rewards(first, pool), rtol=1e-6, atol=1e-9)
    a, running = ema or 0.0, (first.mean(0), np.cov(first, rowvar=False))
    np.testing.assert_allclose(reward.leave_one_out(second), 3.0 * direct_rewards(second, pool, a, running),
                               rtol=1e-6, atol=1e-9)


def test_a_real_sample_earns_more_than_an_outlier(extractor_cfg, real):
    path, mix, shift, _ = real
    rng = np.random.default_rng(2)
    collapsed = rng.normal(size=(40, DIM)) @ mix * 0.3 + shift  # a generator that lost diversity
    real_sample = rng.normal(size=(1, DIM)) @ mix + shift
    outlier = shift + 20.0
    rewards = build(extractor_cfg, path, ema=None).leave_one_out(np.concatenate([collapsed, real_sample, outlier[None]]))
    assert rewards[-2] > 0 > rewards[-1]
    assert rewards[-2] > rewards[:-2].max()


def test_running_moments_are_an_ema_of_the_first_and_second_moments(extractor_cfg, real):
    rng = np.random.default_rng(3)
    batches = [rng.normal(size=(10, DIM)) + k for k in range(3)]
    reward = build(extractor_cfg, real[0], ema=0.8)
    expected = None
    for k, batch in enumerate(batches):
        reward.leave_one_out(batch)
        moments = (batch.mean(0), np.cov(batch, rowvar=False))
        expected = moments if expected is None else mixture(0.8, expected, moments)
        assert reward.count.item() == k + 1
        np.testing.assert_allclose(reward.running_mean.numpy(), expected[0], rtol=1e-12)
        np.testing.assert_allclose(reward.running_cov.numpy(), expected[1], rtol=1e-10, atol=1e-12)


def test_a_component_of_weighted_sum(extractor_cfg, real):
    total = REWARDS.build(dict(type='WeightedSum', rewards=[
        dict(type='GradientReward', weight=0.5),
        dict(type='LeaveOneOutFID', feature_extractor=extractor_cfg, reference=real[0], weight=2.0)]))
    assert not total.per_sample  # ARGRPOModel scores the whole batch at once
    images = torch.rand(6, 3, 32, 32) * 2 - 1
    components = total.components(images, ['a'] * 6)
    assert set(components) == {'gradient', 'fid'}
    alone = build(extractor_cfg, real[0])(images, ['a'] * 6)
    torch.testing.assert_close(components['fid'], alone, rtol=0, atol=0)
    torch.testing.assert_close(components['gradient'], REWARDS.build(dict(type='GradientReward'))(images, ['a'] * 6))
    torch.testing.assert_close(total.combine(components), 0.5 * components['gradient'] + 2.0 * alone)


def test_running_moments_survive_a_checkpoint(extractor_cfg, real):
    """The reward's network comes from its file; its running moments are in the checkpoint and a
    resumed model gives the same next rewards, bit for bit."""
    reward = dict(type='WeightedSum', rewards=[
        dict(type='GradientReward'),
        dict(type='LeaveOneOutFID', feature_extractor=extractor_cfg, reference=real[0], ema=0.9)])
    model = tiny_grpo_model(reward=reward)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.rand(6, 3, 32, 32, generator=gen) * 2 - 1 for _ in range(4)]
    for images in batches[:3]:
        model.reward(images, ['a'] * 6)
    saved = model.state_dict()
    assert sorted(k for k in saved if k.startswith('reward.')) == [
        f'reward.rewards.1.{name}' for name in ('count', 'running_cov', 'running_mean')]
    resumed, fresh = tiny_grpo_model(reward=reward), tiny_grpo_model(reward=reward)
    load_state_dict(resumed, saved, strict=True)
    expected = model.reward(batches[3], ['a'] * 6)
    assert torch.equal(resumed.reward(batches[3], ['a'] * 6), expected)
    assert not torch.equal(fresh.reward(batches[3], ['a'] * 6), expected)  # the state matters


def test_the_batch_is_that_of_all_processes(extractor_cfg, real, monkeypatch):
    """Under several processes each scores its share of the gathered batch, with one state."""
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    other = torch.from_numpy(np.random.default_rng(4).normal(size=(4, DIM)))
    monkeypatch.setattr(distribution, 'get_world_size', lambda: 2)
    monkeypatch.setattr(distribution, 'get_rank', lambda: 1)
    # all_gather of the sizes [1], then of the features [n, D]
    monkeypatch.setattr(distribution, 'all_gather', lambda t: [t, t] if t.dim() == 1 else [other, t])
    reward = build(extractor_cfg, real[0])
    mine = reward(images, ['a'] * 4)
    alone = build(extractor_cfg, real[0])
    features = alone.extractor(images)['pool'].double()
    expected = alone.leave_one_out(torch.cat([other, features]).numpy())[4:]
    torch.testing.assert_close(mine, torch.from_numpy(expected).float(), rtol=0, atol=0)
    assert torch.equal(reward.running_cov, alone.running_cov)
    monkeypatch.setattr(distribution, 'all_gather', lambda t: [t - 1, t])  # another process has fewer
    with pytest.raises(ValueError, match=r'same number of samples on every process, got \[3, 4\]'):
        reward(images, ['a'] * 4)


def test_clear_errors(extractor_cfg, real, tmp_path):
    missing = str(tmp_path / 'real.npz')
    with pytest.raises(FileNotFoundError, match=f"{missing}.*model zoo ships real.npz"):
        build(extractor_cfg, missing)
    identity = FEATURE_EXTRACTORS.build(extractor_cfg).identity
    np.savez(tmp_path / 'narrow.npz', extractor=identity, pool=np.random.default_rng(5).normal(size=(50, 5)))
    narrow = build(extractor_cfg, str(tmp_path / 'narrow.npz'))
    with pytest.raises(ValueError, match='has 5-d features.*gives 96-d'):
        narrow(torch.zeros(4, 3, 32, 32), ['a'] * 4)
    with pytest.raises(ValueError, match=r'need features \[n >= 3, 96\]'):
        build(extractor_cfg, real[0]).leave_one_out(np.zeros((2, DIM)))
    with pytest.raises(ValueError, match='ema'):
        build(extractor_cfg, real[0], ema=1.0)
