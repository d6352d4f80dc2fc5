import pytest
import torch

from argrpo.algorithms import GRPO


def test_group_advantages_and_zero_variance_groups():
    r = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0])
    adv = GRPO(group_size=4, std_eps=1e-4).advantages(r)
    g = r[:4]
    expected = (g - g.mean()) / (torch.std(g, unbiased=True) + 1e-4)
    torch.testing.assert_close(adv[:4], expected)
    assert torch.equal(adv[4:], torch.zeros(4))  # constant group: zero, not NaN
    # rewards whose mean does not round back to them (0.7 * 8 / 8 != 0.7 in float32): still
    # exactly 0, whatever the normalisation (Adam turns a 6e-4 residue into a full step)
    uniform = torch.tensor([0.7] * 8 + [0.3] * 7 + [0.5])
    for adv_norm in ('group', 'none', 'batch'):
        adv = GRPO(group_size=8, adv_norm=adv_norm).advantages(uniform)
        assert torch.equal(adv[:8], torch.zeros(8)) and adv[8:].abs().min() > 0
    assert GRPO(group_size=8).uniform_groups(uniform).tolist() == [True, False]
    torch.testing.assert_close(GRPO(group_size=4, adv_norm='none').advantages(r)[:4], g - 2.5)
    batch = GRPO(group_size=4, adv_norm='batch').advantages(r)
    torch.testing.assert_close(batch[:4], (g - 2.5) / (r.std() + 1e-4))


def test_clipped_surrogate_kl_and_aggregation_by_hand():
    algo = GRPO(group_size=2, eps_low=0.2, eps_high=0.3, beta=0.5, kl_estimator='k3')
    old = torch.zeros(2, 2)
    new = torch.log(torch.tensor([[1.5, 0.5], [1.1, 0.7]]))
    ref = torch.log(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    adv = torch.tensor([1.0, -1.0])
    out = algo.loss(new, old, adv, ref)
    ratio = new.exp()
    # row 0 (A=+1): min(r, clip(r, .8, 1.3)) -> 1.3, 0.5; row 1 (A=-1): min(-r, -clip(r)) -> -1.1, -0.8
    pg = -torch.tensor([[1.3, 0.5], [-1.1, -0.8]])
    d = ref - new
    kl = d.exp() - d - 1
    torch.testing.assert_close(out['loss'], (pg + 0.5 * kl).mean())
    torch.testing.assert_close(out['kl'], kl.mean())
    torch.testing.assert_close(out['log_ratio_max'], new.abs().max())
    # whatever the loss uses, the logged kl is the k3 value; the estimator in the loss beside it
    k1 = GRPO(group_size=2, eps_high=0.3, beta=0.5, kl_estimator='k1').loss(new, old, adv, ref)
    torch.testing.assert_close(k1['kl'], kl.mean())
    torch.testing.assert_close(k1['kl_k1'], (-d).mean())
    torch.testing.assert_close(k1['loss'], (pg + 0.5 * -d).mean())
    # a sample of weight 0 leaves the average; weight 2 counts twice
    weighted = algo.loss(new, old, adv, ref, sample_weight=torch.tensor([0.0, 2.0]))['loss']
    torch.testing.assert_close(weighted, (pg + 0.5 * kl)[1].mean())
    assert out['clip_frac'].item() == pytest.approx(0.5)  # 1.5 > 1.3 with A>0; 0.7 < 0.8 with A<0
    torch.testing.assert_close(out['ratio'], ratio.mean())
    for est, value in (('k1', -d), ('k2', 0.5 * d ** 2)):
        torch.testing.assert_close(GRPO(group_size=2, kl_estimator=est).kl(new, ref), value)
    seq = GRPO(group_size=2, eps_high=0.3, beta=0, loss_agg='sequence').loss(new, old, adv)['loss']
    torch.testing.assert_close(seq, pg.mean(1).mean())
    dr = GRPO(group_size=2, eps_high=0.3, beta=0, loss_agg='dr_grpo', max_tokens=4).loss(new, old, adv)['loss']
    torch.testing.assert_close(dr, pg.sum() / (2 * 4))
    ent = torch.ones(2, 2)
    bonus = GRPO(group_size=2, eps_high=0.3, beta=0, entropy_coef=0.1).loss(new, old, adv, entropy=ent)['loss']
    torch.testing.assert_close(bonus, (pg - 0.1).mean())


def test_bad_settings():
    with pytest.raises(ValueError, match='group_size'):
        GRPO(group_size=1)
    with pytest.raises(ValueError, match='kl_estimator'):
        GRPO(kl_estimator='k4')
    with pytest.raises(ValueError, match=r'minibatches \(3\) must divide group_size \(8\)'):
        GRPO(group_size=8, minibatches=3)
    with pytest.raises(ValueError, match='do not split'):
        GRPO(group_size=4).advantages(torch.zeros(6))
