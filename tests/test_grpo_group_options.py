"""GRPO's options of issue 22, each against a computation of its own: per-component advantages
(each reward part normalised in its group, then weighted and summed) and token credit from the
group (agreement of a group's tokens at each position, on hand-made groups); both off by default
and, at their neutral settings, the very update of the default."""
import itertools

import pytest
import torch
from argrpo_testing import tiny_grpo_model
from mmengine.optim import OptimWrapper

from argrpo.algorithms import GRPO, TokenCredit
from argrpo.registry import REWARDS
from argrpo.rewards import BaseReward

DATA = dict(cond=[0, 1, 2, 3], prompt=['a', 'b', 'c', 'd'], index=[0, 1, 2, 3], rollout_seed=7)


def group_normalised(values, group_size, eps=1e-4):
    """(r - group mean) / (unbiased group std + eps) by explicit loops; 0 for a uniform group."""
    out = []
    for start in range(0, len(values), group_size):
        group = [float(v) for v in values[start:start + group_size]]
        mean = sum(group) / len(group)
        std = (sum((g - mean) ** 2 for g in group) / (len(group) - 1)) ** 0.5
        out += [0.0 if max(group) == min(group) else (g - mean) / (std + eps) for g in group]
    return torch.tensor(out)


# ---- per-component advantages ---------------------------------------------------------------

def test_each_part_is_normalised_in_its_group_then_weighted_and_summed():
    big = torch.tensor([100.0, 101.0, 300.0, 301.0, 5.0, 5.0, 5.0, 5.0])  # second group uniform
    small = torch.tensor([0.04, 0.01, 0.03, 0.02, 0.1, 0.3, 0.2, 0.6])
    algo = GRPO(group_size=4, component_norm=True)
    parts = algo.component_advantages(dict(big=(2.0, big), small=(0.5, small)))
    torch.testing.assert_close(parts['big'], 2.0 * group_normalised(big, 4))
    torch.testing.assert_close(parts['small'], 0.5 * group_normalised(small, 4))
    assert torch.equal(parts['big'][4:], torch.zeros(4))  # a uniform part adds exactly nothing
    total = parts['big'] + parts['small']
    # the combined reward's advantage ranks by `big` alone; the per-part one hears `small` too
    combined = algo.advantages(2.0 * big + 0.5 * small)
    assert combined[:4].argmax() == 3 and total[:4].argmax() == 2
    none = GRPO(group_size=4, adv_norm='none').component_advantages(dict(small=(3.0, small)))
    torch.testing.assert_close(none['small'][:4], 3.0 * (small[:4] - small[:4].mean()))
    batch = GRPO(group_size=4, adv_norm='batch').component_advantages(dict(small=(1.0, small)),
                                                                      dict(small=torch.tensor(0.5)))
    torch.testing.assert_close(batch['small'][4:], (small[4:] - small[4:].mean()) / (0.5 + 1e-4))


class Scaled(BaseReward):
    """The image mean times ``scale`` (to give two parts of different scales)."""

    def __init__(self, scale=1.0, name=None):
        super().__init__(name)
        self.scale = scale

    def score(self, images, prompts):
        return self.scale * images.mean((1, 2, 3))


class Square(BaseReward):
    def score(self, images, prompts):
        return images.pow(2).mean((1, 2, 3))


def nested_reward():
    return dict(type='WeightedSum', rewards=[
        dict(type='WeightedSum', weight=3.0, name='inner', rewards=[
            dict(type=Scaled, name='mean', scale=1000.0, weight=0.5), dict(type=Square, name='square')]),
        dict(type='GradientReward', weight=2.0)])


def test_parts_of_a_weighted_sum_are_its_leaves_and_sum_to_the_reward():
    reward = REWARDS.build(nested_reward())
    images = torch.rand(6, 3, 8, 8) * 2 - 1
    components = reward.components(images, ['p'] * 6)
    parts = reward.parts(components)
    assert {name: weight for name, (weight, _) in parts.items()} == dict(mean=1.5, square=3.0, gradient=2.0)
    for name in parts:
        assert torch.equal(parts[name][1], components[name])
    torch.testing.assert_close(sum(w * v for w, v in parts.values()), reward.combine(components))
    alone = REWARDS.build(dict(type='GradientReward'))
    assert list(alone.parts(components)) == ['gradient']


def capture(model):
    """Record what each update's loss is given."""
    seen = []
    loss = model.algorithm.loss

    def recording(*args, **kwargs):
        seen.append((args, kwargs))
        return loss(*args, **kwargs)
    model.algorithm.loss = recording
    return seen


def run(algorithm, reward=None, lr=1.0):
    torch.manual_seed(0)
    model = tiny_grpo_model(algorithm=dict(type='GRPO', group_size=4, beta=0.1, **algorithm),
                            **({} if reward is None else dict(reward=reward)))
    components = []
    score = model.reward.components
    model.reward.components = lambda *args: components.append(score(*args)) or components[-1]
    seen = capture(model)
    log = model.train_step(DATA, OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=lr)))
    return model, log, seen, components[0]


def test_the_model_trains_on_the_sum_of_the_parts_advantages_and_logs_each_share():
    model, log, seen, components = run(dict(component_norm=True), nested_reward())
    order = model.minibatch_indices(model.sample_draws(DATA, 4)[1])[0][0]  # the one update's samples
    advantages = seen[0][0][2]  # loss(log_probs, old_log_probs, advantages, ...)
    weights = dict(mean=1.5, square=3.0, gradient=2.0)
    expected = {name: weight * group_normalised(components[name], 4) for name, weight in weights.items()}
    torch.testing.assert_close(advantages, sum(expected.values())[order], rtol=1e-5, atol=1e-5)
    for name, value in expected.items():
        torch.testing.assert_close(log[f'adv_{name}'], value.abs().mean(), rtol=1e-5, atol=1e-6)
    # without the option: the advantages of the combined reward, as before, and no adv_ log
    _, log, seen, components = run({}, nested_reward())
    combined = sum(weight * components[name] for name, weight in weights.items())
    torch.testing.assert_close(seen[0][0][2], group_normalised(combined, 4)[order], rtol=1e-4, atol=1e-4)
    assert not any(key.startswith('adv_') for key in log)


@pytest.fixture(scope='module')
def default_update():
    """The policy after the default iteration (GradientReward alone)."""
    return run({})[0]


def test_one_part_gives_the_default_update_bit_for_bit(default_update):
    default = default_update
    single, log, _, _ = run(dict(component_norm=True))
    assert 'adv_gradient' in log
    for a, b in zip(default.policy.parameters(), single.policy.parameters()):
        assert torch.equal(a, b)


# ---- token credit from the group ------------------------------------------------------------

# one group of 4 samples x 3 positions: position 0 shared by all, position 1 by pairs, 2 by none
GROUP = torch.tensor([[1, 2, 3], [1, 2, 4], [1, 5, 6], [1, 5, 7]])


def agreement_by_hand(tokens, group_size, same):
    """For each token, the fraction of the other samples of its group that ``same`` calls equal."""
    out = torch.zeros(tokens.shape)
    for i, t in itertools.product(range(len(tokens)), range(tokens.shape[1])):
        start = i // group_size * group_size
        others = [j for j in range(start, start + group_size) if j != i]
        out[i, t] = sum(same(tokens[i, t].item(), tokens[j, t].item()) for j in others) / len(others)
    return out


def test_agreement_of_a_hand_made_group():
    credit = TokenCredit()
    expected = torch.tensor([[1.0, 1 / 3, 0.0]] * 4)
    torch.testing.assert_close(credit.agreement(GROUP, 4), expected)
    # two groups of 4 in one batch: agreement never looks across groups
    batch = torch.cat([GROUP, GROUP[[0, 0, 0, 3]]])
    torch.testing.assert_close(credit.agreement(batch, 4), agreement_by_hand(batch, 4, lambda a, b: a == b))
    torch.testing.assert_close(credit.agreement(batch, 4)[4:], torch.tensor([[1.0, 2 / 3, 2 / 3]] * 3 + [[1.0, 0, 0]]))
    rng = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 3, (12, 5), generator=rng)
    torch.testing.assert_close(credit.agreement(tokens, 6), agreement_by_hand(tokens, 6, lambda a, b: a == b))


def test_codes_near_in_the_codebook_agree():
    codebook = torch.zeros(8, 2)
    codebook[:, 0] = 1.0
    angles = {3: 0.0, 4: 0.1, 6: 1.0, 7: 1.5}  # radians: cos(0.1) = 0.995 > 0.9 > cos(1.0)
    for code, angle in angles.items():
        codebook[code] = torch.tensor([torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))]) * (1 + code)
    credit = TokenCredit(match='codebook', threshold=0.9)
    cosine = torch.nn.functional.normalize(codebook, dim=1) @ torch.nn.functional.normalize(codebook, dim=1).T
    expected = agreement_by_hand(GROUP, 4, lambda a, b: bool(cosine[a, b] >= 0.9))
    got = credit.agreement(GROUP, 4, codebook)
    torch.testing.assert_close(got, expected)
    assert got[0, 2] == got[1, 2] == 1 / 3 and got[2, 2] == 0  # 3 ~ 4 (scale does not matter), 6 !~ 7
    with pytest.raises(ValueError, match='codebook'):
        credit.agreement(GROUP, 4)


def test_weights_are_the_configured_function_of_agreement():
    agreement = torch.tensor([[1.0, 1 / 3, 0.0], [0.5, 0.5, 0.5]])
    linear = TokenCredit().weights(agreement)
    torch.testing.assert_close(linear, 1 - agreement)
    shaped = TokenCredit(strength=0.8, power=2.0, min_weight=0.3).weights(agreement)
    torch.testing.assert_close(shaped, torch.tensor([[0.3, 1 - 0.8 / 9, 1.0], [0.8, 0.8, 0.8]]))
    normalised = TokenCredit(normalize=True).weights(agreement)
    torch.testing.assert_close(normalised, torch.tensor([[0.0, 1.2, 1.8], [1.0, 1.0, 1.0]]))  # row 0: mean 5/9
    assert torch.equal(TokenCredit(normalize=True).weights(torch.ones(1, 3)), torch.zeros(1, 3))


def test_the_loss_weights_each_tokens_advantage_and_kl_term_as_configured():
    new = torch.log(torch.tensor([[1.5, 0.5, 1.0], [1.1, 0.7, 0.9]]))
    old, ref = torch.zeros(2, 3), torch.log(torch.full((2, 3), 1.2))
    adv, weight = torch.tensor([1.0, -1.0]), torch.tensor([[0.0, 0.5, 1.0], [0.25, 1.0, 0.75]])
    ratio = new.exp()
    surrogate = -torch.minimum(ratio * adv[:, None], ratio.clamp(0.8, 1.2) * adv[:, None])
    d = ref - new
    kl = d.exp() - d - 1
    for advantage, on_kl in ((True, True), (True, False), (False, True)):
        algo = GRPO(group_size=2, beta=0.5, token_credit=dict(advantage=advantage, kl=on_kl))
        out = algo.loss(new, old, adv, ref, token_weight=weight)
        expected = surrogate * (weight if advantage else 1) + 0.5 * kl * (weight if on_kl else 1)
        torch.testing.assert_close(out['loss'], expected.mean())
        torch.testing.assert_close(out['kl'], kl.mean())  # the logged KL is the policy's, unweighted
    plain = GRPO(group_size=2, beta=0.5)
    torch.testing.assert_close(plain.loss(new, old, adv, ref)['loss'], (surrogate + 0.5 * kl).mean())


def test_the_model_passes_each_groups_credit_to_the_update(default_update):
    """The weights the update gets are the configured function of the agreement of the tokens it
    scores (one minibatch: every sample, each group's in an order of its own)."""
    credit = dict(match='exact', strength=1.0, power=2.0, min_weight=0.1)
    torch.manual_seed(0)
    model = tiny_grpo_model(algorithm=dict(type='GRPO', group_size=4, beta=0.1, token_credit=credit))
    seen, loss = [], model.loss
    model.loss = lambda **kwargs: seen.append(kwargs) or loss(**kwargs)
    log = model.train_step(DATA, OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=1.0)))
    tokens, token_weight = seen[0]['tokens'], seen[0]['token_weight']
    by_hand = agreement_by_hand(tokens, 4, lambda a, b: a == b)
    assert 0 < by_hand.mean() < 1
    torch.testing.assert_close(token_weight, (1 - by_hand ** 2).clamp(min=0.1))
    torch.testing.assert_close(log['token_agreement'], by_hand.mean())
    torch.testing.assert_close(log['token_weight'], token_weight.mean())
    # strength 0: every weight is 1, and the update is the default's, bit for bit
    neutral, _, _, _ = run(dict(token_credit=dict(strength=0.0)))
    for a, b in zip(default_update.policy.parameters(), neutral.policy.parameters()):
        assert torch.equal(a, b)


def test_bad_settings():
    for kwargs, match in ((dict(match='near'), 'match'), (dict(strength=1.5), 'strength'),
                          (dict(power=0.0), 'power'), (dict(advantage=False, kl=False), 'weights nothing')):
        with pytest.raises(ValueError, match=match):
            GRPO(token_credit=kwargs)
    with pytest.raises(ValueError, match=r'tokens \[B \* G, L\] in groups of 4'):
        TokenCredit().agreement(torch.zeros(6, 3, dtype=torch.long), 4)
