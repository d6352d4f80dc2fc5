"""GroupDiversity: each sample's gain in its own prompt's group against a direct recomputation
(the statistic of the group with and without the sample), the cluster-size bonus on a hand-made
group, the grouping by prompt, and its components, weights and parts."""
import itertools

import numpy as np
import pytest
import torch

from argrpo.registry import REWARDS


def build(extractor_cfg, **kwargs):
    return REWARDS.build(dict(type='GroupDiversity', feature_extractor=extractor_cfg, **kwargs))


def mean_distance(points):
    return np.mean([np.linalg.norm(a - b) for a, b in itertools.combinations(points, 2)])


def rbf(points, scale, jitter):
    return np.array([[np.exp(-np.sum((a - b) ** 2) / (2 * scale ** 2)) for b in points] for a in points]) \
        + jitter * np.eye(len(points))


def direct(points, statistic, bandwidth=None, jitter=1e-3):
    """The gain of each point, the statistic recomputed on the group without it."""
    points = points / np.linalg.norm(points, axis=1, keepdims=True)
    rest = [np.delete(points, i, axis=0) for i in range(len(points))]
    if statistic == 'distance':
        return np.array([mean_distance(points) - mean_distance(r) for r in rest])
    scale = bandwidth or np.median([np.linalg.norm(a - b) for a, b in itertools.combinations(points, 2)])
    kernel = rbf(points, scale, jitter)
    logdet = np.linalg.slogdet(kernel)[1]
    return np.array([logdet - np.linalg.slogdet(np.delete(np.delete(kernel, i, 0), i, 1))[1]
                     for i in range(len(points))])


@pytest.mark.parametrize('statistic,bandwidth', [('distance', 'median'), ('logdet', 'median'), ('logdet', 0.7)])
def test_each_gain_is_the_groups_statistic_with_the_sample_minus_without(extractor_cfg, statistic, bandwidth):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(12, 6)) + 3.0
    prompts = ['a', 'b', 'c'] * 4  # three interleaved groups of 4
    reward = build(extractor_cfg, statistics={statistic: 1.0}, bandwidth=bandwidth, jitter=1e-3)
    got = reward.batch_statistics(features, prompts)[statistic]
    for prompt in 'abc':
        rows = [i for i, p in enumerate(prompts) if p == prompt]
        expected = direct(features[rows], statistic, None if bandwidth == 'median' else bandwidth)
        np.testing.assert_allclose(got[rows], expected, rtol=1e-9, atol=1e-12)


def test_the_odd_one_out_gains_most_and_a_duplicate_least(extractor_cfg):
    rng = np.random.default_rng(1)
    base = np.eye(8)[0] + 0.05 * rng.normal(size=(6, 8))  # six samples of one mode
    odd = np.eye(8)[1:2]                                    # one elsewhere
    group = np.concatenate([base, odd, base[:1] + 1e-6])    # and a near copy of the first
    stats = build(extractor_cfg, statistics=dict(distance=1.0, logdet=1.0)).group_statistics(group)
    for values in stats.values():
        assert values.argmax() == 6
    assert stats['logdet'][[0, 7]].max() < stats['logdet'][1:6].min()  # the copies explain each other
    scaled = build(extractor_cfg, statistics=dict(distance=1.0, logdet=1.0)).group_statistics(
        group * rng.uniform(0.5, 3.0, size=(8, 1)))  # normalize: a sample's norm does not count
    for key in stats:
        np.testing.assert_allclose(scaled[key], stats[key], rtol=1e-9, atol=1e-12)


def test_cluster_bonus_of_a_hand_made_group(extractor_cfg):
    """Points on a line, linked below 0.15: {0, 0.1, 0.2} by a chain, {1, 1.05}, {3} alone."""
    points = np.array([[0.0], [0.1], [0.2], [1.0], [1.05], [3.0]])
    reward = build(extractor_cfg, statistics=dict(cluster=1.0), normalize=False, cluster_radius=0.15)
    np.testing.assert_allclose(reward.group_statistics(points)['cluster'], [1 / 3, 1 / 3, 1 / 3, 1 / 2, 1 / 2, 1])
    collapsed = reward.group_statistics(np.zeros((8, 2)))['cluster']
    np.testing.assert_allclose(collapsed, np.full(8, 1 / 8))


def test_components_weights_and_parts_through_the_extractor(extractor_cfg):
    weights = dict(distance=2.0, logdet=0.5, cluster=0.25)
    reward = build(extractor_cfg, statistics=weights, name='div')
    assert not reward.per_sample
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    prompts = ['x', 'y'] * 4
    components = reward.components(images, prompts)
    assert set(components) == {'div_distance', 'div_logdet', 'div_cluster'}
    features = reward.extractor(images)['pool'].double().numpy()
    expected = reward.batch_statistics(features, prompts)
    rows = [0, 2, 4, 6]
    np.testing.assert_allclose(components['div_distance'][rows].numpy(), direct(features[rows], 'distance'),
                               rtol=1e-5, atol=1e-7)
    for key, weight in weights.items():
        torch.testing.assert_close(components[f'div_{key}'], torch.from_numpy(expected[key]).float())
        assert reward.parts(components)[f'div_{key}'][0] == weight
    torch.testing.assert_close(reward.combine(components),
                               sum(w * components[f'div_{k}'] for k, w in weights.items()))
    torch.testing.assert_close(reward(images, prompts), reward.combine(components))


def test_clear_errors(extractor_cfg):
    with pytest.raises(ValueError, match='statistics are weights of'):
        build(extractor_cfg, statistics=dict(entropy=1.0))
    with pytest.raises(ValueError, match='bandwidth'):
        build(extractor_cfg, bandwidth='mean')
    with pytest.raises(ValueError, match='groups of 3 or more'):
        build(extractor_cfg).batch_statistics(np.ones((4, 3)), ['a', 'a', 'b', 'b'])
    with pytest.raises(ValueError, match='4 images and 3 prompts'):
        build(extractor_cfg).batch_statistics(np.ones((4, 3)), ['a'] * 3)
