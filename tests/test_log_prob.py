"""Sampled log-probs and teacher-forced log-probs agree: the ratio of on-policy GRPO is 1."""
import pytest
import torch
from argrpo_testing import randomize

from argrpo.registry import GENERATORS
from argrpo.samplers import TokenSampler

SAMPLERS = [dict(), dict(cfg_scale=4.0), dict(cfg_scale=2.0, temperature=0.7, top_k=20, top_p=0.9),
            dict(cfg_scale=3.0, cfg_interval=3)]


@pytest.mark.parametrize('sampler_cfg', SAMPLERS)
def test_c2i_sampled_log_probs_match_teacher_forced(tiny_gpt_cfg, sampler_cfg):
    model = randomize(GENERATORS.build(tiny_gpt_cfg)).eval()
    sampler = TokenSampler(**sampler_cfg)
    cond = torch.tensor([0, 3, 3, 9])
    rollout = model.sample(cond, sampler, generator=torch.Generator().manual_seed(0))
    lp, ent = model.log_prob(rollout.tokens, cond, sampler, entropy='differentiable')
    torch.testing.assert_close(lp, rollout.log_probs, atol=1e-5, rtol=0)
    assert torch.isfinite(rollout.log_probs).all()
    # entropy of the sampled distribution, computed directly
    logits = model(rollout.tokens.repeat(2, 1), torch.cat([cond, torch.full_like(cond, 10)]))
    full = sampler.log_probs(logits[:4], logits[4:] if sampler.uses_cfg else None,
                             sampler.guided(torch.arange(16)))
    p = full.exp()
    torch.testing.assert_close(ent, -(p * torch.nan_to_num(full, neginf=0.0)).sum(-1))


def test_t2i_sampled_log_probs_match_teacher_forced(tiny_t2i_cfg):
    model = randomize(GENERATORS.build(tiny_t2i_cfg)).eval()
    sampler = TokenSampler(cfg_scale=4.0)
    caps = torch.randn(3, 6, 24)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[0, :3] = False
    caps[0, :3] = 0
    rollout = model.sample(caps, sampler, cond_mask=mask, generator=torch.Generator().manual_seed(1))
    lp = model.log_prob(rollout.tokens, caps, sampler, cond_mask=mask)
    torch.testing.assert_close(lp, rollout.log_probs, atol=1e-5, rtol=0)


def test_log_prob_is_differentiable_and_seeded_sampling_reproduces(tiny_gpt_cfg):
    model = randomize(GENERATORS.build(tiny_gpt_cfg)).eval()
    sampler = TokenSampler(cfg_scale=2.0)
    cond = torch.tensor([1, 2])
    a = model.sample(cond, sampler, generator=torch.Generator().manual_seed(5))
    b = model.sample(cond, sampler, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.tokens, b.tokens)
    model.log_prob(a.tokens, cond, sampler).sum().backward()
    assert model.cls_embedding.embedding_table.weight.grad[10].abs().sum() > 0  # null class too


def _loss_and_grads(model, tokens, cond, sampler, cond_mask=None, counts=None, **options):
    """Log-probs, entropies and gradients of a weighted loss; ``counts``, when given, receives
    how often each block and the head ran (forward and backward together) and the bytes autograd
    saved for backward (outside what checkpointing saves for its own recomputation)."""
    model.zero_grad()
    calls = {'blocks': 0, 'head': 0}
    # pre-hooks: a recomputation may stop once it has what backward needs, before a block ends
    hooks = [layer.register_forward_pre_hook(lambda *_: calls.__setitem__('blocks', calls['blocks'] + 1))
             for layer in model.layers]
    hooks.append(model.output.register_forward_pre_hook(lambda *_: calls.__setitem__('head', calls['head'] + 1)))
    params = {t.untyped_storage().data_ptr() for t in model.parameters()}
    saved = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        lp, ent = model.log_prob(tokens, cond, sampler, cond_mask, entropy='differentiable', **options)
    weights = torch.linspace(-1, 1, lp.numel()).view_as(lp)  # every position counts differently
    ((lp - 0.3 * ent) * weights).sum().backward()
    for hook in hooks:
        hook.remove()
    if counts is not None:
        counts.update(calls, saved=sum(saved.values()))
    return lp.detach(), ent.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('t2i', [False, True])
def test_chunked_log_probs_and_activation_checkpointing_change_no_number(tiny_gpt_cfg, tiny_t2i_cfg, t2i):
    """Memory options (the head and the sampler's distribution 5 positions at a time, blocks
    recomputed in backward) give the log-probs, entropies and gradients of the plain pass."""
    cfg = tiny_t2i_cfg if t2i else tiny_gpt_cfg
    plain = randomize(GENERATORS.build(cfg)).eval()
    saving = GENERATORS.build(dict(cfg, activation_checkpointing=True)).eval()
    saving.load_state_dict(plain.state_dict())
    sampler = TokenSampler(cfg_scale=3.0, cfg_interval=7, temperature=0.8, top_k=20, top_p=0.9)
    if t2i:
        cond, mask = torch.randn(3, 6, 24), torch.ones(3, 6, dtype=torch.bool)
        mask[0, :2] = False
    else:
        cond, mask = torch.tensor([0, 4, 9]), None
    tokens = plain.sample(cond, sampler, mask, generator=torch.Generator().manual_seed(2)).tokens
    plain_counts, saving_counts = {}, {}
    expected = _loss_and_grads(plain, tokens, cond, sampler, mask, counts=plain_counts)
    got = _loss_and_grads(saving, tokens, cond, sampler, mask, counts=saving_counts, chunk=5)
    # the options did something: each block ran again in backward, the head once per chunk of 5
    # of the 16 positions and again in backward, and far less was saved for backward
    layers = len(plain.layers)
    assert plain_counts['blocks'] == layers and saving_counts['blocks'] == 2 * layers
    assert plain_counts['head'] == 1 and saving_counts['head'] == 2 * 4
    assert saving_counts['saved'] < plain_counts['saved'] / 3, (saving_counts, plain_counts)
    torch.testing.assert_close(got[:2], expected[:2], atol=1e-6, rtol=1e-5)
    assert got[2].keys() == expected[2].keys()
    for name in expected[2]:
        torch.testing.assert_close(got[2][name], expected[2][name], atol=1e-6, rtol=1e-4, msg=name)


def test_entropy_has_a_graph_only_when_asked(tiny_gpt_cfg):
    model = randomize(GENERATORS.build(tiny_gpt_cfg)).eval()
    tokens, cond = torch.randint(64, (2, 16)), torch.tensor([1, 2])
    for chunk in (None, 4):
        _, detached = model.log_prob(tokens, cond, TokenSampler(), entropy='detached', chunk=chunk)
        _, differentiable = model.log_prob(tokens, cond, TokenSampler(), entropy='differentiable', chunk=chunk)
        assert detached.grad_fn is None and differentiable.grad_fn is not None
        torch.testing.assert_close(detached, differentiable.detach())
    with pytest.raises(ValueError, match='entropy is None'):
        model.log_prob(tokens, cond, TokenSampler(), entropy=True)
