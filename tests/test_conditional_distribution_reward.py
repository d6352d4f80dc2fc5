"""ConditionalLeaveOneOutFID: per prompt, the real statistics of that prompt's images alone and
each sample's leave-one-out Fréchet distance against a direct recomputation, running moments per
prompt, references from a labeled .npz or a data set (the shapes world's per-caption scenes), the
state across a checkpoint, and the batch of several processes."""
import numpy as np
import pytest
import torch
from argrpo_testing import direct_fd, mixture, tiny_grpo_model
from mmengine.runner.checkpoint import load_state_dict

from argrpo.registry import DATASETS, REWARDS
from argrpo.rewards import conditional_distribution
from argrpo.utils import from_uint8
from projects.shapes_world.shapes_world import parse
from projects.shapes_world.shapes_world.prompt_scenes import ShapesPromptScenes
from projects.shapes_world.shapes_world.scene import COLORS

DIM = 96  # test_resnet's pooled features
NAMES = ['cat', 'dog', 'fox']


@pytest.fixture(scope='module')
def labeled(tmp_path_factory):
    """An ADM-style labeled batch: 3 classes x 10 images (each class its own tint), labels in arr_1."""
    rng = np.random.default_rng(0)
    labels = np.repeat([2, 0, 1], 10)
    images = rng.integers(0, 256, size=(30, 32, 32, 3))
    images[..., 0] = images[..., 0] // 2 + 60 * labels[:, None, None]
    path = tmp_path_factory.mktemp('labeled') / 'real.npz'
    np.savez(path, arr_0=images.astype(np.uint8), arr_1=labels)
    return str(path), images.astype(np.uint8), labels


def build(extractor_cfg, reference, **kwargs):
    return REWARDS.build(dict(type='ConditionalLeaveOneOutFID', feature_extractor=extractor_cfg, reference=reference,
                              **kwargs))


def direct_rewards(features, mu_real, c_real, a=0.0, running=None):
    """Each sample's reward by recomputing the statistics of its group without it."""
    def fd(batch):
        moments = (batch.mean(0), np.cov(batch, rowvar=False))
        return direct_fd(mu_real, c_real, *(mixture(a, running, moments) if running else moments))
    everything = fd(features)
    return np.array([fd(np.delete(features, i, axis=0)) - everything for i in range(len(features))])


def test_each_prompt_has_the_statistics_of_its_own_real_images(extractor_cfg, labeled):
    path, images, labels = labeled
    reward = build(extractor_cfg, path, class_names=NAMES, template='a photo of a {}')
    assert reward.prompts == ['a photo of a cat', 'a photo of a dog', 'a photo of a fox']
    assert tuple(reward.running_mean.shape) == (3, DIM) and tuple(reward.running_cov.shape) == (3, DIM, DIM)
    mu, sigma, root = reward.real_statistics()
    features = reward.extractor(from_uint8(images))['pool'].double().numpy()
    for k in range(3):
        own = features[labels == k]
        np.testing.assert_allclose(mu[k], own.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sigma[k], np.cov(own, rowvar=False), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(root[k] @ root[k], sigma[k], rtol=1e-6, atol=1e-8)


def test_each_reward_is_its_prompts_distance_without_the_sample_minus_with_all(extractor_cfg, labeled):
    reward = build(extractor_cfg, labeled[0], class_names=NAMES, ema=0.7, scale=3.0)
    mu, sigma, _ = reward.real_statistics()
    rng = np.random.default_rng(1)
    first = rng.normal(size=(12, DIM)) * 0.3 + mu[[0, 1, 2] * 4]  # interleaved prompts, 4 samples each
    ids = np.array([0, 1, 2] * 4)
    got = reward.leave_one_out(first, ids)
    for k in range(3):
        np.testing.assert_allclose(got[ids == k], 3.0 * direct_rewards(first[ids == k], mu[k], sigma[k]),
                                   rtol=1e-6, atol=1e-9)
    # the second batch: prompt 0 seen before (its running moments blend in), prompt 2 absent
    second = rng.normal(size=(8, DIM)) * 0.5 + mu[[0, 1] * 4]
    ids2 = np.array([0, 1] * 4)
    running = {k: (first[ids == k].mean(0), np.cov(first[ids == k], rowvar=False)) for k in range(3)}
    got = reward.leave_one_out(second, ids2)
    for k in (0, 1):
        np.testing.assert_allclose(got[ids2 == k],
                                   3.0 * direct_rewards(second[ids2 == k], mu[k], sigma[k], 0.7, running[k]),
                                   rtol=1e-6, atol=1e-9)
        blended = mixture(0.7, running[k], (second[ids2 == k].mean(0), np.cov(second[ids2 == k], rowvar=False)))
        np.testing.assert_allclose(reward.running_mean[k].numpy(), blended[0], rtol=1e-12)
        np.testing.assert_allclose(reward.running_cov[k].numpy(), blended[1], rtol=1e-10, atol=1e-12)
    assert reward.count.tolist() == [2, 2, 1]
    np.testing.assert_allclose(reward.running_cov[2].numpy(), running[2][1], rtol=1e-10, atol=1e-12)


def test_a_prompts_own_reference_is_not_the_batchs(extractor_cfg, labeled):
    """Samples that are real for another prompt are far from their own: the prompt's real sample
    earns more than the one of another prompt, which the batch-level statistics would welcome."""
    reward = build(extractor_cfg, labeled[0], class_names=NAMES, ema=None)
    mu, sigma, _ = reward.real_statistics()
    rng = np.random.default_rng(2)
    spread = np.linalg.cholesky(sigma[0] + 1e-6 * np.eye(DIM))
    group = mu[0] + rng.normal(size=(6, DIM)) @ spread.T * 0.3  # prompt 0's samples, collapsed
    own, other = mu[0] + rng.normal(size=DIM) @ spread.T, mu[1]
    rewards = reward.leave_one_out(np.concatenate([group, own[None], other[None]]), np.zeros(8, dtype=int))
    assert rewards[6] > rewards[7] and rewards[6] > rewards[:6].max()


def test_a_data_set_reference_and_its_npz_give_the_same_statistics(extractor_cfg, tmp_path):
    scenes = dict(type='ShapesPromptScenes', per_prompt=6, seed=4,
                  prompts=['a small red circle above a large blue square', 'a large green triangle below a small '
                           'yellow circle', 'a small red circle above a large blue square'])
    dataset = DATASETS.build(scenes)
    assert len(dataset) == 12 and dataset.prompts == scenes['prompts'][:2]  # one entry per distinct caption
    items = [dataset[i] for i in range(12)]
    assert [item['prompt'] for item in items] == [scenes['prompts'][0]] * 6 + [scenes['prompts'][1]] * 6
    for item in items:  # each object in its half, in the caption's colour
        pixels = ((item['image'].permute(1, 2, 0).numpy() + 1) * 127.5)
        for half, obj in zip((pixels[:16], pixels[16:]), parse(item['prompt'])):
            assert (np.abs(half - COLORS[obj['color']]).max(-1) < 30).sum() > 10
    np.savez(tmp_path / 'scenes.npz', arr_0=np.stack([dataset.scene(i) for i in range(12)]),
             prompts=np.array([item['prompt'] for item in items]))
    from_data, from_file = build(extractor_cfg, scenes), build(extractor_cfg, str(tmp_path / 'scenes.npz'))
    assert from_data.prompts == from_file.prompts == sorted(scenes['prompts'][:2])
    for a, b in zip(from_data.real_statistics(), from_file.real_statistics()):  # float32, batched differently
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    source = ShapesPromptScenes(source=dict(type='ShapesDataset', mode='caption', seed=3, length=4), per_prompt=2)
    assert source.prompts == [DATASETS.build(dict(type='ShapesDataset', mode='caption', seed=3, length=4))[i]['prompt']
                              for i in range(4)]


def test_scores_through_the_extractor_and_keeps_its_state_in_checkpoints(extractor_cfg, labeled):
    reward = dict(type='WeightedSum', rewards=[
        dict(type='GradientReward'),
        dict(type='ConditionalLeaveOneOutFID', feature_extractor=extractor_cfg, reference=labeled[0],
             class_names=NAMES, name='fid_class', ema=0.9)])
    model = tiny_grpo_model(reward=reward)
    assert not model.reward.per_sample
    gen = torch.Generator().manual_seed(0)
    batches = [torch.rand(6, 3, 32, 32, generator=gen) * 2 - 1 for _ in range(3)]
    prompts = ['cat', 'dog'] * 3
    fid = model.reward.rewards[1]
    features = fid.extractor(batches[0])['pool'].double().numpy()
    alone = REWARDS.build(dict(reward['rewards'][1]))
    expected = alone.leave_one_out(features, alone.prompt_ids(prompts))
    torch.testing.assert_close(model.reward.components(batches[0], prompts)['fid_class'],
                               torch.from_numpy(expected).float())
    model.reward(batches[1], prompts)
    saved = model.state_dict()
    assert sorted(k for k in saved if k.startswith('reward.')) == [
        f'reward.rewards.1.{name}' for name in ('count', 'running_cov', 'running_mean')]
    resumed, fresh = tiny_grpo_model(reward=reward), tiny_grpo_model(reward=reward)
    load_state_dict(resumed, saved, strict=True)
    expected = model.reward(batches[2], prompts)
    assert torch.equal(resumed.reward(batches[2], prompts), expected)
    assert not torch.equal(fresh.reward(batches[2], prompts), expected)  # the state matters


def test_the_batch_is_that_of_all_processes(extractor_cfg, labeled, monkeypatch):
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    other = torch.from_numpy(np.random.default_rng(4).normal(size=(3, DIM)))
    other_ids = torch.tensor([0, 0, 1])
    monkeypatch.setattr(conditional_distribution, 'get_world_size', lambda: 2)
    monkeypatch.setattr(conditional_distribution, 'get_rank', lambda: 1)

    def gather(t):  # the sizes [1], then the features [n, D], then the prompt ids [n]
        return [t, t] if t.numel() == 1 else [other if t.dim() == 2 else other_ids, t]
    monkeypatch.setattr(conditional_distribution, 'all_gather', gather)
    reward = build(extractor_cfg, labeled[0], class_names=NAMES)
    mine = reward(images, ['cat', 'dog', 'dog'])
    alone = build(extractor_cfg, labeled[0], class_names=NAMES)
    features = alone.extractor(images)['pool'].double()
    expected = alone.leave_one_out(torch.cat([other, features]).numpy(), np.array([0, 0, 1, 0, 1, 1]))[3:]
    torch.testing.assert_close(mine, torch.from_numpy(expected).float(), rtol=0, atol=0)
    assert torch.equal(reward.running_cov, alone.running_cov) and reward.count.tolist() == [1, 1, 0]


def test_clear_errors(extractor_cfg, labeled, tmp_path):
    path, images, labels = labeled
    reward = build(extractor_cfg, path, class_names=NAMES)
    with pytest.raises(ValueError, match=r"no real images of the prompts \['wolf'\]"):
        reward.prompt_ids(['cat', 'wolf'])
    with pytest.raises(ValueError, match="2 samples of 'dog' in the batch"):
        reward.leave_one_out(np.zeros((5, DIM)), np.array([0, 0, 0, 1, 1]))
    np.savez(tmp_path / 'few.npz', arr_0=images[:11], arr_1=labels[:11])  # one image of class 0
    with pytest.raises(ValueError, match=r"fewer than 2 real images of \['cat'\]"):
        build(extractor_cfg, str(tmp_path / 'few.npz'), class_names=NAMES)
    with pytest.raises(ValueError, match='give class_names'):
        build(extractor_cfg, path)
    np.savez(tmp_path / 'bare.npz', arr_0=images)
    with pytest.raises(ValueError, match='holds'):
        build(extractor_cfg, str(tmp_path / 'bare.npz'), class_names=NAMES)
    with pytest.raises(FileNotFoundError, match='missing.npz.*arr_1'):
        build(extractor_cfg, str(tmp_path / 'missing.npz'))
