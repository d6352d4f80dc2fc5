"""GRPO's numerics: one precision for the whole iteration (bf16 autocast on the CPU), truncated
log-probs that stay finite, updates without dropout, and no greedy rollouts."""
import pytest
import torch
from argrpo_testing import TINY_GPT, randomize, tiny_grpo_model
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from argrpo.engine import AutocastOptimWrapper
from argrpo.registry import GENERATORS
from argrpo.rewards import BaseReward
from argrpo.samplers import TokenSampler

# CFG amplifies rounding; top-k and top-p put the edge of the kept set where rounding moves it
HARD_SAMPLER = dict(type='TokenSampler', cfg_scale=4.0, top_k=20, top_p=0.9)


def bf16_optim(model, lr=0.0):
    return AutocastOptimWrapper(optimizer=torch.optim.SGD(model.policy.parameters(), lr=lr), dtype='bfloat16')


def hard_model(**kwargs):
    """Non-trivial weights (LlamaGen's output layer starts at zero), CFG 4, top-k, top-p."""
    model = tiny_grpo_model(generator=dict(TINY_GPT, block_size=64), sampler=HARD_SAMPLER,
                            algorithm=dict(type='GRPO', group_size=4, beta=0.1, inner_epochs=2, minibatches=2),
                            **kwargs)
    randomize(model.policy, std=0.15)
    model.sync_reference()
    return model


DATA = dict(cond=[0, 1, 2, 3], prompt=['a', 'b', 'c', 'd'], index=[0, 1, 2, 3], rollout_seed=7)


def spy_on_precision(model):
    """The dtypes of the output layers' logits in every forward of the policy and the
    reference, apart for those inside ``model.rollout``: ``{'rollout': [...], 'other': [...]}``."""
    seen, phase = {'rollout': [], 'other': []}, ['other']
    for gpt in (model.policy, model.reference):
        gpt.output.register_forward_hook(lambda module, args, out: seen[phase[0]].append(out.dtype))
    rollout = model.rollout

    def spied(*args, **kwargs):
        phase[0] = 'rollout'
        try:
            return rollout(*args, **kwargs)
        finally:
            phase[0] = 'other'

    model.rollout = spied
    return seen


def test_bf16_first_update_is_exactly_on_policy():
    torch.manual_seed(0)
    model = hard_model()
    seen = spy_on_precision(model)
    log = model.train_step(DATA, bf16_optim(model))
    # one precision for the whole iteration: the rollout's decode steps (recomputed old log-probs
    # would give a ratio of 1 whatever they ran in), the old, reference and new log-probs
    assert len(seen['rollout']) >= 16 and set(seen['rollout']) == {torch.bfloat16}, set(seen['rollout'])
    assert len(seen['other']) >= 3 and set(seen['other']) == {torch.bfloat16}, set(seen['other'])
    print(f"\nbf16 autocast, CFG 4, top-k 20, top-p 0.9: first-update max |log r| = "
          f"{log['onpolicy_log_ratio_max'].item():.2e}")
    assert log['skipped'].item() == 0 and log['onpolicy_log_ratio_max'].item() <= 1e-5
    assert log['kl'].item() == 0.0  # reference = policy, scored in the same precision and minibatches
    # the KV-cache decoder's own log-probs round differently in bf16: why 'auto' recomputes
    rollout_lp = hard_model(old_log_probs='rollout').train_step(DATA, bf16_optim(model))
    print(f"the same with the rollout's own log-probs: {rollout_lp['onpolicy_log_ratio_max'].item():.2e}")
    assert rollout_lp['onpolicy_log_ratio_max'].item() > 1e-4


def test_drawn_tokens_keep_finite_log_probs_in_every_precision():
    """A bf16 rollout scored teacher-forced in bf16 or float32, by the policy or a moved
    reference: truncation by each model's own logits would drop some drawn tokens (-inf)."""
    torch.manual_seed(0)
    gpt = randomize(GENERATORS.build(dict(TINY_GPT, block_size=64)), std=0.15).eval()
    other = randomize(GENERATORS.build(dict(TINY_GPT, block_size=64)), std=0.15, seed=1).eval()
    sampler, cond = TokenSampler(**{k: v for k, v in HARD_SAMPLER.items() if k != 'type'}), torch.arange(16) % 10
    with torch.autocast('cpu', dtype=torch.bfloat16):
        rollout = gpt.sample(cond, sampler, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(rollout.log_probs).all()
    with torch.no_grad():
        for model in (gpt, other):
            assert torch.isfinite(model.log_prob(rollout.tokens, cond, sampler)).all()
            with torch.autocast('cpu', dtype=torch.bfloat16):
                lp, entropy = model.log_prob(rollout.tokens, cond, sampler, entropy='differentiable')
            assert torch.isfinite(lp).all() and torch.isfinite(entropy).all()


def test_bf16_training_keeps_the_kl_finite_and_unclamped():
    torch.manual_seed(0)
    model = hard_model()
    optim = bf16_optim(model, lr=0.5)
    for it in range(3):
        log = model.train_step(dict(DATA, rollout_seed=it), optim)
        assert log['skipped'].item() == 0 and torch.isfinite(log['loss'])
        assert 0 <= log['kl'].item() < 1.0 and log['log_ratio_max'].item() < 20
    assert log['kl'].item() > 0  # the policy moved away from the reference


def test_updates_run_without_dropout():
    model = tiny_grpo_model(generator=dict(TINY_GPT, token_dropout=0.3, attn_dropout=0.3, resid_dropout=0.3,
                                           ffn_dropout=0.3), old_log_probs='recompute')
    randomize(model.policy, std=0.15)
    model.train()  # as the Runner does
    log = model.train_step(DATA, OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=0.0)))
    assert log['onpolicy_log_ratio_max'].item() == 0.0


def test_mmengine_amp_is_refused_for_what_it_leaves_in_float32():
    model = tiny_grpo_model()
    amp = AmpOptimWrapper.__new__(AmpOptimWrapper)  # its __init__ refuses CPUs
    with pytest.raises(TypeError, match="'AutocastOptimWrapper'.*autocast the update alone"):
        model.train_step(DATA, amp)


def test_greedy_rollouts_are_refused():
    with pytest.raises(ValueError, match='GRPO needs sampled rollouts.*greedy=False'):
        tiny_grpo_model(sampler=dict(type='TokenSampler', greedy=True))
    tiny_grpo_model(eval_sampler=dict(type='TokenSampler', greedy=True))  # evaluation may be greedy


class UniformForA(BaseReward):
    """0.7 for every sample of prompt 'a' (a uniform group), the image mean for the others."""

    def score(self, images, prompts):
        return torch.where(torch.tensor([p == 'a' for p in prompts]), 0.7, images.mean((1, 2, 3)))


def test_uniform_groups_are_logged_and_can_leave_the_update():
    def run(drop, prompts):
        torch.manual_seed(0)
        model = tiny_grpo_model(algorithm=dict(type='GRPO', group_size=2, beta=0.1, drop_uniform_groups=drop),
                                reward=dict(type=UniformForA))
        before = [p.clone() for p in model.policy.parameters()]
        log = model.train_step(dict(DATA, prompt=prompts), OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=1.0)))
        moved = not all(torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))
        return log, moved

    log, moved = run(False, ['a', 'b', 'c', 'd'])
    assert log['uniform_group_frac'].item() == 0.25 and moved
    log, moved = run(True, ['a', 'b', 'c', 'd'])
    assert log['uniform_group_frac'].item() == 0.25 and moved and log['skipped'].item() == 0
    # nothing informative: no update at all (the KL term alone does not move the policy)
    log, moved = run(True, ['a'] * 4)
    assert log['uniform_group_frac'].item() == 1.0 and log['skipped'].item() == 1.0 and not moved
    log, moved = run(False, ['a'] * 4)
    assert log['skipped'].item() == 0.0


def test_float16_scales_the_loss_and_keeps_the_scale_in_checkpoints():
    torch.manual_seed(0)
    lin, x = torch.nn.Linear(4, 2), torch.randn(3, 4)
    start = lin.weight.detach().clone()
    optim = AutocastOptimWrapper(optimizer=torch.optim.SGD(lin.parameters(), lr=0.1), dtype='float16',
                                 clip_grad=dict(max_norm=100.0))
    with optim.optim_context(lin):
        y = lin(x)
    assert y.dtype == torch.float16
    optim.update_params(y.float().pow(2).mean())
    # the step is the unscaled gradient's (scale 65536 would otherwise show)
    w = start.clone().requires_grad_()
    (x @ w.T + lin.bias.detach()).pow(2).mean().backward()
    torch.testing.assert_close(lin.weight.detach(), start - 0.1 * w.grad, atol=1e-2, rtol=0)
    state = optim.state_dict()
    assert state['loss_scaler']['scale'] == 65536.0
    again = AutocastOptimWrapper(optimizer=torch.optim.SGD(lin.parameters(), lr=0.1), dtype='float16', loss_scale=8.0)
    again.load_state_dict(state)
    assert again.loss_scaler.get_scale() == 65536.0
    with pytest.raises(ValueError, match="'bfloat16' or 'float16'"):
        AutocastOptimWrapper(optimizer=torch.optim.SGD(lin.parameters(), lr=0.1), dtype='float32')
