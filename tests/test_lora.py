"""LoRA policies: only the adapters on the GPT's linears train, the reference is the base model
with them off (no second copy of the weights), checkpoints hold the adapters, GRPO learns with
them, and tools/merge_lora.py writes a LlamaGen GPT file with the adapted policy's logits."""
import os.path as osp
import runpy
from types import SimpleNamespace

import pytest
import torch
from argrpo_testing import TINY_VQ, randomize, tiny_grpo_model
from test_gpt import reference_logits

from argrpo import apis
from argrpo.engine import ReferenceSyncHook, allow_mmengine_checkpoints
from argrpo.models import ARGRPOModel
from argrpo.registry import GENERATORS, MODELS, TOKENIZERS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py')
GPT = dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32, vocab_size=64, block_size=16,
           num_classes=4)
LORA = dict(r=4, lora_alpha=8)
TARGETS = {'wqkv', 'wo', 'w1', 'w2', 'w3'}


def is_adapter(name: str) -> bool:
    return '.lora_A.' in name or '.lora_B.' in name


def test_only_adapters_train_and_the_weights_are_not_copied():
    lora, full = tiny_grpo_model(lora=LORA), tiny_grpo_model()
    trainable = [name for name, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all(is_adapter(name) for name in trainable)
    adapted = {name.split('.')[-1] for name, m in lora.policy.named_modules() if hasattr(m, 'lora_A')}
    assert adapted == TARGETS
    assert type(lora.policy) is type(full.policy) and lora.policy.block_size == 16
    # one copy of the GPT's weights (the full model holds two: policy and reference), plus the adapters
    assert lora.reference is None
    base = sum(p.numel() for p in full.policy.parameters())
    adapters = sum(p.numel() for name, p in lora.named_parameters() if is_adapter(name))
    assert sum(p.numel() for p in lora.parameters()) == sum(p.numel() for p in full.parameters()) - base + adapters
    assert len({p.untyped_storage().data_ptr() for p in lora.parameters()}) == len(list(lora.parameters()))
    with pytest.raises(ValueError, match='remove ReferenceSyncHook'):
        lora.sync_reference()
    with pytest.raises(ValueError, match='remove ReferenceSyncHook'):  # before training starts
        ReferenceSyncHook().before_train(SimpleNamespace(model=lora))
    with pytest.raises(ValueError, match='modules_to_save'):
        tiny_grpo_model(lora=dict(LORA, modules_to_save=['output']))


def test_reference_is_the_base_model_with_adapters_off(save_llamagen):
    base = randomize(GENERATORS.build(GPT), std=0.2).eval()
    model = tiny_grpo_model(generator=dict(GPT, checkpoint=save_llamagen(base)), lora=LORA)
    tokens, cond, batch = torch.randint(0, 64, (4, 16)), torch.tensor([0, 1, 2, 3]), [torch.arange(4)]
    expected = base.log_prob(tokens, cond, model.sampler)
    # adapters start at zero: policy, reference and base agree
    torch.testing.assert_close(model.score_reference(tokens, cond, None, batch), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.score_tokens(model.policy, tokens, cond, None, batch), expected,
                               rtol=0, atol=1e-6)
    with torch.no_grad():
        for name, p in model.policy.named_parameters():
            if '.lora_B.' in name:
                p.normal_(std=0.3)
    policy = model.score_tokens(model.policy, tokens, cond, None, batch)
    torch.testing.assert_close(model.score_reference(tokens, cond, None, batch), expected, rtol=0, atol=1e-6)
    assert (policy - expected).abs().max() > 0.05
    # scoring the reference leaves the adapters on and trainable
    torch.testing.assert_close(model.score_tokens(model.policy, tokens, cond, None, batch), policy, rtol=0, atol=0)
    assert all(p.requires_grad for name, p in model.policy.named_parameters() if is_adapter(name))
    # no KL term, no reference scoring
    model.algorithm.beta = 0.0
    assert model.score_reference(tokens, cond, None, batch) is None


# ---- a run through the Runner, its checkpoint, and the merge tool ---------------------------------
@pytest.fixture(scope='module')
def lora_run(tmp_path_factory):
    """The tiny GRPO config with LoRA on a non-trivial GPT (LlamaGen zero-initialises the output
    layer, through which no adapter would get a gradient), trained 40 iterations."""
    tmp = tmp_path_factory.mktemp('lora')
    gpt = randomize(GENERATORS.build(apis.load_config(TINY_CONFIG).model.generator), std=0.2)
    torch.save({'model': gpt.state_dict()}, tmp / 'gpt.pt')
    vq = randomize(TOKENIZERS.build(dict(TINY_VQ, codebook_size=8)), std=0.2)
    torch.save({'model': vq.state_dict()}, tmp / 'vq.pt')
    config = tmp / 'lora_config.py'
    config.write_text(f'_base_ = {TINY_CONFIG!r}\n'
                      f"model = dict(lora=dict(r=8, lora_alpha=16), generator=dict(checkpoint={str(tmp / 'gpt.pt')!r}),"
                      f" tokenizer=dict(checkpoint={str(tmp / 'vq.pt')!r}))\n")
    options = {'experiment_name': 'lora_run', 'train_cfg.val_interval': 100, 'custom_hooks': []}
    runner = apis.train(apis.train_config(apis.load_config(str(config), options, str(tmp / 'work'))))
    return runner, str(config), tmp


def history(runner, key):
    return torch.tensor(runner.message_hub.get_scalar(f'train/{key}').data[0])


@pytest.mark.slow
def test_lora_grpo_raises_the_reward_well_beyond_noise(lora_run):
    runner, _, _ = lora_run
    mean, std = history(runner, 'reward_mean'), history(runner, 'reward_std')
    first, last = mean[:5].mean(), mean[-5:].mean()
    noise = std[:5].mean() / (32 * 5) ** 0.5  # std of a 5-iteration mean of 32 samples each
    assert last - first > 5 * noise, (first, last, noise)
    # the reference is the base, which the policy leaves: the KL grows far beyond the first
    # iteration's, which a reference following the policy would keep (0.006 there, 0.5 at the end)
    kl = history(runner, 'kl')
    assert kl[-5:].mean() > 10 * kl[0], kl


@pytest.mark.slow
def test_checkpoints_hold_the_adapters_and_resume_the_policy(lora_run):
    runner, config, tmp = lora_run
    allow_mmengine_checkpoints()
    state = torch.load(tmp / 'work' / 'iter_40.pth', map_location='cpu', weights_only=True)['state_dict']
    policy = runner.model.policy
    adapters = {f'policy.{name}' for name, p in policy.named_parameters() if is_adapter(name)}
    weights = {key for key in state if key.startswith(('policy.', 'reference.'))}
    assert weights == adapters  # no base weights, no reference: they are the generator's file
    # a fresh model from the config, loaded strictly, is the trained policy
    fresh = MODELS.build(apis.load_config(config).model)
    assert isinstance(fresh, ARGRPOModel)
    fresh.load_state_dict(state, strict=True)
    tokens, cond = torch.randint(0, 8, (2, 16)), torch.tensor([0, 3])
    with torch.no_grad():
        torch.testing.assert_close(fresh.policy.eval()(tokens, cond), policy.eval()(tokens, cond), rtol=0, atol=0)


MERGE_TOOL = runpy.run_path(osp.join(ROOT, 'tools', 'merge_lora.py'))  # its main and trained_policy


@pytest.mark.slow
def test_merged_file_is_a_llamagen_gpt_with_the_policy_logits(lora_run):
    runner, config, tmp = lora_run
    MERGE_TOOL['main']([config, str(tmp / 'work' / 'iter_40.pth'), '--out', str(tmp / 'merged.pt')])
    gpt_cfg = apis.load_config(config).model.generator
    merged = torch.load(tmp / 'merged.pt', map_location='cpu', weights_only=True)['model']
    plain = GENERATORS.build(dict(gpt_cfg, checkpoint=None))
    assert merged.keys() == plain.state_dict().keys()  # LlamaGen's names, no base_layer / lora_
    policy = runner.model.policy.eval()
    tokens, cond = torch.randint(0, 8, (3, 16)), torch.tensor([0, 2, 3])
    with torch.no_grad():
        expected = policy(tokens, cond)
    loaded = GENERATORS.build(dict(gpt_cfg, checkpoint=str(tmp / 'merged.pt'))).eval()
    torch.testing.assert_close(loaded(tokens, cond), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(reference_logits(merged, gpt_cfg, tokens, cond), expected.double(), rtol=0, atol=1e-5)
    # the adapters moved the policy: the merged file is not the base
    base = GENERATORS.build(gpt_cfg).eval()
    assert (base(tokens, cond) - expected).abs().max() > 1e-3


@pytest.mark.slow
def test_merge_tool_errors(lora_run):
    _, config, tmp = lora_run
    trained_policy = MERGE_TOOL['trained_policy']
    model_cfg = apis.load_config(config).model
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        trained_policy(model_cfg, str(tmp / 'nowhere.pth'))
    with pytest.raises(ValueError, match='no checkpoint of a run'):
        trained_policy(model_cfg, str(tmp / 'gpt.pt'))
    full = tmp / 'full.pth'  # a checkpoint of a run without LoRA
    weights = GENERATORS.build(model_cfg.generator).state_dict()
    torch.save({'meta': {}, 'state_dict': {f'policy.{k}': v for k, v in weights.items()}}, full)
    with pytest.raises(ValueError, match='holds no LoRA adapters'):
        trained_policy(model_cfg, str(full))
    with pytest.raises(ValueError, match='sets no model.lora'):
        trained_policy(apis.load_config(TINY_CONFIG).model, str(full))
