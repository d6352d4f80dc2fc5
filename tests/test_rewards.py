"""Rewards built through the real code paths (open_clip / pyiqa architectures, weights written
by the test in the real file formats) and checked against hand computations."""
import pytest
import torch
import torch.nn.functional as F
from argrpo_testing import tiny_grpo_model
from mmengine.runner.checkpoint import load_state_dict

from argrpo.registry import REWARDS, TOKENIZERS

ARCH = 'ViT-S-32-alt'  # the smallest open_clip architecture


@pytest.fixture(scope='module')
def clip_file(tmp_path_factory):
    import open_clip
    model = open_clip.create_model(ARCH, pretrained=None)
    path = tmp_path_factory.mktemp('clip') / 'open_clip_pytorch_model.bin'
    torch.save(model.state_dict(), path)
    return str(path), model


def test_clip_score_is_scaled_cosine(clip_file):
    path, model = clip_file
    import open_clip
    reward = REWARDS.build(dict(type='CLIPScore', arch=ARCH, checkpoint=path, scale=5.0))
    images = torch.rand(2, 3, 64, 48) * 2 - 1
    prompts = ['a photo of a dog.', 'a red square']
    # independent: resize shorter side to 224 (bicubic), centre crop, CLIP normalisation
    x = F.interpolate((images + 1) / 2, size=(299, 224), mode='bicubic', align_corners=False).clamp(0, 1)
    x = x[..., 37:37 + 224, :]
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        img = F.normalize(model.encode_image((x - mean) / std), dim=-1)
        txt = F.normalize(model.encode_text(open_clip.get_tokenizer(ARCH)(prompts)), dim=-1)
    torch.testing.assert_close(reward(images, prompts), 5.0 * (img * txt).sum(-1), atol=1e-4, rtol=1e-4)
    quantised = REWARDS.build(dict(type='CLIPScore', arch=ARCH, checkpoint=path,
                                   levels=((0, 0.3, 0.6), (-1, 0.5, 1.0, 1.5))))
    cos = (img * txt).sum(-1)
    expected = torch.tensor([[-1, 0.5, 1.0, 1.5][int((c >= 0) + (c >= 0.3) + (c >= 0.6))] for c in cos],
                            dtype=torch.float32)
    torch.testing.assert_close(quantised(images, prompts), expected)
    assert not any(p.requires_grad for p in reward.parameters())


def test_hps_reads_the_hps_file_format_and_realism_is_a_probability(clip_file, tmp_path):
    path, model = clip_file
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'HPS_v2.1_compressed.pt')
    hps = REWARDS.build(dict(type='HPSv2', arch=ARCH, checkpoint=str(tmp_path / 'HPS_v2.1_compressed.pt')))
    clip = REWARDS.build(dict(type='CLIPScore', arch=ARCH, checkpoint=path))
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(hps(images, ['a', 'b']), clip(images, ['a', 'b']))
    realism = REWARDS.build(dict(type='CLIPRealism', arch=ARCH, checkpoint=path))(images, ['x', 'y'])
    assert ((realism > 0) & (realism < 1)).all()
    with pytest.raises(FileNotFoundError, match='HPS_v2.1_compressed.pt'):
        REWARDS.build(dict(type='HPSv2', arch=ARCH, checkpoint=str(tmp_path / 'missing' / 'HPS_v2.1_compressed.pt')))


def test_rewards_of_one_clip_file_share_one_model_and_realism_encodes_images_once(clip_file, tmp_path):
    path, model = clip_file
    # a text encoder of the same file drops the image tower of its own copy (a t2i run builds it first)
    text_encoder = TOKENIZERS.build(dict(type='CLIPTextEncoder', arch=ARCH, checkpoint=path))
    total = REWARDS.build(dict(type='WeightedSum', rewards=[
        dict(type='CLIPScore', arch=ARCH, checkpoint=path, name='clip'),
        dict(type='CLIPRealism', arch=ARCH, checkpoint=path, name='realism', scale=2.0)]))
    clip, realism = total.rewards
    assert clip.model is realism.model and text_encoder.model is not clip.model
    assert sum(p.numel() for p in total.parameters()) == sum(p.numel() for p in model.parameters())
    torch.save(model.state_dict(), tmp_path / 'other.bin')  # another file: its own model
    assert REWARDS.build(dict(type='CLIPScore', arch=ARCH, checkpoint=str(tmp_path / 'other.bin'))).model is not clip.model

    calls = []
    realism.model.visual.register_forward_hook(lambda *args: calls.append(1))
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    score = realism(images, ['a', 'b', 'c'])
    assert len(calls) == 1
    real = clip.cosine(images, [realism.pair[0]] * 3)
    fake = clip.cosine(images, [realism.pair[1]] * 3)
    expected = 2.0 * torch.sigmoid(model.logit_scale.exp() * (real - fake))
    torch.testing.assert_close(score, expected, atol=1e-5, rtol=1e-5)


def test_a_checkpoint_of_rewards_sharing_a_model_loads_back(clip_file):
    """The shared model has a name under each reward: a GRPO checkpoint leaves it out under both
    (it comes from its file) and loads back strictly."""
    path, _ = clip_file
    reward = dict(type='WeightedSum', rewards=[dict(type='CLIPScore', arch=ARCH, checkpoint=path),
                                               dict(type='CLIPRealism', arch=ARCH, checkpoint=path)])
    saved = tiny_grpo_model(reward=reward).state_dict()
    assert saved and not any(key.startswith('reward.') for key in saved)
    resumed = tiny_grpo_model(reward=reward)
    load_state_dict(resumed, saved, strict=True)
    assert resumed.reward.rewards[0].model is resumed.reward.rewards[1].model


def test_weighted_sum_logs_components_and_sums_with_weights(clip_file):
    path, _ = clip_file
    total = REWARDS.build(dict(type='WeightedSum', rewards=[
        dict(type='CLIPScore', arch=ARCH, checkpoint=path, name='clip', weight=2.0),
        dict(type='GradientReward', weight=0.5)]))
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    parts = total.components(images, ['a', 'b', 'c'])
    assert set(parts) == {'clip', 'gradient'}
    torch.testing.assert_close(total(images, ['a', 'b', 'c']), 2.0 * parts['clip'] + 0.5 * parts['gradient'])
    with pytest.raises(ValueError, match="two rewards are named 'gradient'"):
        REWARDS.build(dict(type='WeightedSum', rewards=[dict(type='GradientReward')] * 2))


def test_pyiqa_lower_is_better_metric_is_flipped():
    import pyiqa
    images = torch.rand(3, 3, 64, 64)
    images[1] = 0.5  # a flat image
    reward = REWARDS.build(dict(type='IQAReward', metric='piqe', min_size=0))
    raw = pyiqa.create_metric('piqe', device='cpu')(images).flatten()
    torch.testing.assert_close(reward(images * 2 - 1, ['a'] * 3), -raw)
    assert torch.equal(torch.argsort(reward(images * 2 - 1, ['a'] * 3)), torch.argsort(-raw))
    with pytest.raises(ValueError, match='full-reference'):
        REWARDS.build(dict(type='IQAReward', metric='psnr'))


@pytest.mark.slow
def test_maniqa_builds_offline_and_loads_its_checkpoint(tmp_path):
    reward = REWARDS.build(dict(type='IQAReward', metric='maniqa', metric_options=dict(test_sample=1)))
    torch.save({'params': reward.net.state_dict()}, tmp_path / 'ckpt_koniq10k.pt')
    loaded = REWARDS.build(dict(type='IQAReward', metric='maniqa', offset=0.5, scale=2.0,
                                metric_options=dict(test_sample=1), checkpoint=str(tmp_path / 'ckpt_koniq10k.pt')))
    images = torch.rand(1, 3, 64, 64) * 2 - 1
    raw = reward(images, ['a'])
    torch.testing.assert_close(loaded(images, ['a']), (raw - 0.5) * 2.0)
    bad = {'params': {k: v for k, v in list(reward.net.state_dict().items())[1:]}}
    torch.save(bad, tmp_path / 'bad.pt')
    with pytest.raises(RuntimeError, match='missing in file'):
        REWARDS.build(dict(type='IQAReward', metric='maniqa', checkpoint=str(tmp_path / 'bad.pt')))
