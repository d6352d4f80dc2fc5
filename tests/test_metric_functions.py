"""FID, IS and precision / recall against closed forms, scipy and brute force."""
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from argrpo.evaluation import feature_statistics, frechet_distance, inception_score, precision_recall


def random_spd(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def scipy_fid(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_fid_of_diagonal_gaussians_is_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    a, b = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0, abs=1e-10)


def test_fid_matches_scipy_sqrtm_on_full_covariances():
    rng = np.random.default_rng(1)
    mu1, mu2, s1, s2 = rng.normal(size=16), rng.normal(size=16), random_spd(rng, 16), random_spd(rng, 16)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-8)


def test_fid_stays_exact_for_singular_covariances():
    # rank-1 covariances on orthogonal axes, rotated: tr((s1 s2)^1/2) = 0, FID = 2 + |dmu|^2
    d = 32
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(d, d)))
    s1, s2 = np.zeros((d, d)), np.zeros((d, d))
    s1[0, 0] = s2[1, 1] = 1.0
    s1, s2 = q @ s1 @ q.T, q @ s2 @ q.T
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(2 + d * 0.25, abs=1e-6)
    # fewer samples than dimensions (as with small evaluations): identical sets give 0, and the
    # distance between two such sets is invariant under a rotation of the feature space
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 64)), rng.normal(size=(10, 64)) + 0.1
    assert frechet_distance(*feature_statistics(x), *feature_statistics(x)) == pytest.approx(0, abs=1e-8)
    r, _ = np.linalg.qr(rng.normal(size=(64, 64)))
    assert frechet_distance(*feature_statistics(x @ r), *feature_statistics(y @ r)) == pytest.approx(
        frechet_distance(*feature_statistics(x), *feature_statistics(y)), rel=1e-8)


def test_feature_statistics_and_shape_errors():
    x = np.random.default_rng(4).normal(size=(50, 3))
    mu, sigma = feature_statistics(x)
    np.testing.assert_allclose(sigma, np.cov(x.T, ddof=1))
    with pytest.raises(ValueError, match='different shapes'):
        frechet_distance(mu, sigma, mu[:2], sigma[:2, :2])
    with pytest.raises(ValueError, match='N >= 2'):
        feature_statistics(x[:1])


def test_inception_score_of_known_predictions():
    assert inception_score(np.zeros((100, 1008)))[0] == pytest.approx(1.0)
    confident = np.full((100, 10), -1e4)
    confident[np.arange(100), np.arange(100) % 10] = 0  # one-hot, 10 classes equally often
    assert inception_score(confident)[0] == pytest.approx(10.0, rel=1e-6)
    # two splits of 50: 5 classes each -> mean 5, std 0
    confident[:50] = confident[np.arange(50) % 5]
    confident[50:] = confident[5 + np.arange(50) % 5]
    mean, std = inception_score(confident, split_size=50)
    assert (mean, std) == (pytest.approx(5.0, rel=1e-6), pytest.approx(0.0, abs=1e-6))


def test_precision_recall_hand_built_case():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])    # k=1 radii: 1 each
    fake = np.array([[0.5], [1.5], [10.0], [11.0]])  # k=1 radii: 1, 1, 1, 1
    # precision: 0.5 and 1.5 lie in the real manifold, 10 and 11 do not;
    # recall: 0, 1, 2 lie within 1 of 0.5 or 1.5, 3 does not
    assert precision_recall(real, fake, k=1) == (pytest.approx(0.5), pytest.approx(0.75))


def brute_force_pr(real, fake, k):
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r_real = np.sort(d_rr, 1)[:, k]
    r_fake = np.sort(d_ff, 1)[:, k]
    return (d_fr <= r_real[None]).any(1).mean(), (d_fr.T <= r_fake[None]).any(1).mean()


def test_precision_recall_matches_brute_force():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(300, 8)), rng.normal(size=(200, 8)) * 1.3 + 0.4
    ours = precision_recall(real, fake, k=3, batch=64)
    expected = brute_force_pr(real, fake, 3)
    assert ours == (pytest.approx(expected[0]), pytest.approx(expected[1]))
    assert 0 < ours[0] < 1 and 0 < ours[1] < 1
    with pytest.raises(ValueError, match='more than 3 points'):
        precision_recall(real[:3], fake, k=3)
