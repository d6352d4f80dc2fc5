import pytest
import torch

from argrpo.samplers import TokenSampler


def test_top_k_top_p_temperature_against_hand_computation():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    lp = TokenSampler(top_k=2).log_probs(logits)
    torch.testing.assert_close(lp.exp(), torch.tensor([[5 / 7, 2 / 7, 0, 0, 0]]))
    # top-p 0.6: 0.5 < 0.6, so the second token is needed; 0.7 >= 0.6 stops there
    lp = TokenSampler(top_p=0.6).log_probs(logits)
    torch.testing.assert_close(lp.exp(), torch.tensor([[5 / 7, 2 / 7, 0, 0, 0]]))
    lp = TokenSampler(top_p=0.4).log_probs(logits)  # the most likely token always stays
    torch.testing.assert_close(lp.exp(), torch.tensor([[1.0, 0, 0, 0, 0]]))
    p = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]) ** 2
    lp = TokenSampler(temperature=0.5).log_probs(logits)
    torch.testing.assert_close(lp.exp()[0], p / p.sum())


def test_cfg_mixing_and_interval():
    cond, uncond = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    s = TokenSampler(cfg_scale=3.0)
    torch.testing.assert_close(s.log_probs(cond, uncond), (uncond + 3 * (cond - uncond)).log_softmax(-1))
    s = TokenSampler(cfg_scale=3.0, cfg_interval=0)  # LlamaGen: tokens 0 and 1 guided, then not
    assert s.guided(0) and s.guided(1) and not s.guided(2)
    guided = s.guided(torch.arange(3))
    assert guided.tolist() == [True, True, False]
    lp = s.log_probs(cond, uncond, guided)
    torch.testing.assert_close(lp[:, 2], cond[:, 2].log_softmax(-1))
    torch.testing.assert_close(lp[:, 1], (uncond[:, 1] + 3 * (cond[:, 1] - uncond[:, 1])).log_softmax(-1))
    assert not TokenSampler(cfg_scale=1.0).guided(0)


def test_draws_follow_the_distribution_and_are_seeded():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    lp = probs.log()[None].expand(20000, -1)
    s = TokenSampler()
    draws = s.draw(lp, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    assert freq[1] == 0  # zero-probability tokens are never drawn
    torch.testing.assert_close(freq, probs, atol=0.015, rtol=0)
    again = s.draw(lp, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)
    assert torch.equal(TokenSampler(greedy=True).draw(lp[:2]), torch.tensor([2, 2]))


def test_a_draw_at_the_top_of_the_cdf_never_takes_a_zero_probability_token():
    # top-k 2 keeps tokens 0 and 2; a float64 uniform just below 1 rounds to 1.0 in float32
    lp = TokenSampler(top_k=2).log_probs(torch.log(torch.tensor([[0.4, 0.1, 0.3, 0.15, 0.05]])))
    u = torch.tensor([1 - 1e-12, 0.0, 0.5], dtype=torch.float64)
    assert u.float()[0] == 1.0
    assert TokenSampler().draw(lp.expand(3, -1), uniforms=u).tolist() == [2, 0, 0]


def test_scoring_keeps_the_drawn_token_in_the_truncated_set():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    s = TokenSampler(top_k=2, top_p=0.9)
    # token 3 is outside the top 2 (as rounding can make a drawn token): kept, renormalised
    lp = s.log_probs(logits, keep=torch.tensor([3]))
    torch.testing.assert_close(lp.exp(), torch.tensor([[5 / 8, 2 / 8, 0, 1 / 8, 0]]))
    # a token inside the kept set changes nothing
    torch.testing.assert_close(s.log_probs(logits, keep=torch.tensor([1])), s.log_probs(logits))
    # top-p runs over what top-k kept: 0.5 / 0.7 < 0.9, so both stay
    torch.testing.assert_close(s.log_probs(logits).exp(), torch.tensor([[5 / 7, 2 / 7, 0, 0, 0]]))


@pytest.mark.parametrize('kwargs, match', [
    (dict(cfg_scale=0.5), 'cfg_scale'), (dict(top_p=0.0), 'top_p'), (dict(top_p=1.5), 'top_p'),
    (dict(top_k=-1), 'top_k'), (dict(temperature=0), 'temperature'), (dict(cfg_interval=-2), 'cfg_interval')])
def test_out_of_range_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenSampler(**kwargs)
