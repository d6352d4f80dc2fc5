"""The static-shape decode paths (``sample(decode='static' | 'compiled')``) against the dynamic
one: the same tokens for the same uniforms, log-probs equal up to rounding."""
import pytest
import torch
from argrpo_testing import randomize

from argrpo.generators.static_decode import kept_caches
from argrpo.registry import GENERATORS
from argrpo.samplers import TokenSampler

SAMPLER = TokenSampler(cfg_scale=3.0, top_k=20, top_p=0.9, temperature=1.3)


def c2i(tiny_gpt_cfg, tiny_t2i_cfg):
    """Class-conditional, grouped KV heads."""
    model = randomize(GENERATORS.build(dict(tiny_gpt_cfg, n_kv_head=2))).eval()
    return model, torch.tensor([1, 5, 9]), None


def t2i(tiny_gpt_cfg, tiny_t2i_cfg):
    """Captions with left padding, as LlamaGen feeds them."""
    model = randomize(GENERATORS.build(tiny_t2i_cfg)).eval()
    caps = torch.randn(3, 6, 24, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]], dtype=torch.bool)
    return model, caps * mask[..., None], mask


def assert_same_rollouts(a, b):
    assert torch.equal(a.tokens, b.tokens)
    torch.testing.assert_close(a.log_probs, b.log_probs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('setup', [c2i, t2i])
@pytest.mark.parametrize('sampler', [SAMPLER, TokenSampler(greedy=True)], ids=['cfg-topk-topp', 'greedy'])
def test_static_decode_gives_the_dynamic_tokens(setup, sampler, tiny_gpt_cfg, tiny_t2i_cfg):
    model, cond, mask = setup(tiny_gpt_cfg, tiny_t2i_cfg)
    uniforms = torch.rand(3, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dynamic = model.sample(cond, sampler, mask, uniforms=uniforms, decode='dynamic')
    assert_same_rollouts(model.sample(cond, sampler, mask, uniforms=uniforms, decode='static'), dynamic)
    # another rollout leaves other keys in the kept caches past every position: masked, never read
    model.sample(cond.flip(0), sampler, None if mask is None else mask.flip(0), uniforms=1 - uniforms, decode='static')
    assert_same_rollouts(model.sample(cond, sampler, mask, uniforms=uniforms, decode='static'), dynamic)


def test_caches_are_kept_per_shape(tiny_gpt_cfg):
    model = GENERATORS.build(tiny_gpt_cfg)
    first = kept_caches(model, 4, 16)
    assert kept_caches(model, 4, 16) is first
    assert kept_caches(model, 2, 16) is not first
    with torch.autocast('cpu', torch.bfloat16):
        assert kept_caches(model, 2, 16)[0].k.dtype == torch.bfloat16


def test_decode_paths(tiny_gpt_cfg):
    model = GENERATORS.build(tiny_gpt_cfg)
    assert model.decode_path('auto', torch.device('cpu')) == 'dynamic'
    assert model.decode_path('auto', torch.device('cuda')) == 'compiled'
    with pytest.raises(ValueError, match="decode must be one of"):
        model.sample(torch.tensor([1]), TokenSampler(), decode='fast')
    model.static_decode = False  # a family without decode_step_static
    assert model.decode_path('auto', torch.device('cuda')) == 'dynamic'
    with pytest.raises(ValueError, match='no static decode step'):
        model.sample(torch.tensor([1]), TokenSampler(), decode='static')


@pytest.mark.slow  # torch.compile on CPU: about a minute a model on 2 cores
@pytest.mark.parametrize('setup', [c2i, t2i])
def test_compiled_decode_gives_the_dynamic_tokens(setup, tiny_gpt_cfg, tiny_t2i_cfg):
    model, cond, mask = setup(tiny_gpt_cfg, tiny_t2i_cfg)
    uniforms = torch.rand(3, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    dynamic = model.sample(cond, SAMPLER, mask, uniforms=uniforms, decode='dynamic')
    for _ in range(2):  # the second rollout replays what the first compiled
        assert_same_rollouts(model.sample(cond, SAMPLER, mask, uniforms=uniforms, decode='compiled'), dynamic)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_graph_decode_gives_the_dynamic_tokens(tiny_gpt_cfg, tiny_t2i_cfg):
    for setup in (c2i, t2i):
        model, cond, mask = setup(tiny_gpt_cfg, tiny_t2i_cfg)
        model, cond = model.cuda(), cond.cuda()
        mask = None if mask is None else mask.cuda()
        uniforms = torch.rand(3, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64).cuda()
        dynamic = model.sample(cond, SAMPLER, mask, uniforms=uniforms, decode='dynamic')
        for _ in range(3):  # cudagraph trees: a warm-up run, a recording, then replays
            assert_same_rollouts(model.sample(cond, SAMPLER, mask, uniforms=uniforms), dynamic)


def test_models_sample_with_the_configured_decoder():
    from argrpo_testing import tiny_grpo_model
    data = dict(cond=[0, 3], prompt=['a', 'b'], index=[0, 1])
    models = [randomize(tiny_grpo_model(decoder=decoder)) for decoder in ('dynamic', 'static')]
    dynamic, static = ([item['image'] for item in model.val_step(data)] for model in models)
    for a, b in zip(dynamic, static):
        torch.testing.assert_close(a, b)
    for model in models:  # each took its own path
        model.policy.decode_step_static = None
    models[0].val_step(data)
    with pytest.raises(TypeError):
        models[1].val_step(data)
    with pytest.raises(ValueError, match="decode must be one of"):
        tiny_grpo_model(decoder='fast')
