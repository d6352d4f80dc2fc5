"""The pieces of the synthetic demo: the world, the stage trainers, the export format, the
classifier reward and the diversity metric."""
import numpy as np
import pytest
import torch
from argrpo_testing import TINY_VQ
from mmengine.optim import OptimWrapper

from argrpo.datasets import ShapesDataset
from argrpo.datasets.shapes_world import COLORS, SHAPES, class_names, render
from argrpo.engine import ExportWeightsHook
from argrpo.evaluation import group_diversity
from argrpo.registry import MODELS, REWARDS, TOKENIZERS


def test_shapes_world_is_seeded_and_labels_match_captions():
    world = ShapesDataset(50, seed=3)
    item = world[7]
    assert item['image'].shape == (3, 32, 32) and -1 <= item['image'].min() and item['image'].max() <= 1
    assert torch.equal(item['image'], ShapesDataset(50, seed=3)[7]['image'])
    assert not torch.equal(item['image'], ShapesDataset(50, seed=4)[7]['image'])
    for i in range(20):
        item = world[i]
        assert class_names()[item['label']] in item['prompt']  # 'a small red circle' names 'red circle'
    for shape in SHAPES:  # each shape covers its centre with its colour, the corners stay background
        canvas = render([dict(shape=shape, color='blue', size='large', cx=0.5, cy=0.5)], 32, 40)
        assert tuple(canvas[16, 16]) == COLORS['blue'] and tuple(canvas[0, 0]) == (40, 40, 40)
    captions = [ShapesDataset(10, mode='caption')[i]['prompt'] for i in range(10)]
    assert all((' above ' in c) != (' below ' in c) for c in captions)
    assert len(class_names()) == len(COLORS) * len(SHAPES)


def one_batch(n=8):
    world = ShapesDataset(n)
    items = [world[i] for i in range(n)]
    return dict(image=torch.stack([i['image'] for i in items]), label=torch.tensor([i['label'] for i in items]),
                prompt=[i['prompt'] for i in items])


@pytest.mark.parametrize('cfg', [
    dict(type='VQTokenizerTrainer', tokenizer=dict(TINY_VQ, codebook_size=16)),
    dict(type='ImageClassifierTrainer', model_name='test_resnet', model_options=dict(num_classes=12), image_size=32),
    dict(type='CLIPTrainer', arch='ShapesCLIP-Tiny'),
], ids=['vq', 'classifier', 'clip'])
def test_stage_trainers_lower_their_loss_on_a_batch(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    data = one_batch()
    losses = [model.train_step(data, optim)['loss'].item() for _ in range(15)]
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0], losses


def test_sft_drops_conditions_to_the_null_class(tmp_path):
    vq = TOKENIZERS.build(dict(TINY_VQ, codebook_size=16))
    torch.save({'model': vq.state_dict()}, tmp_path / 'vq.pt')
    gpt = dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32, vocab_size=16,
               block_size=256, num_classes=12)  # 32 px / 2 = 16x16 tokens
    model = MODELS.build(dict(type='ARSFTModel', generator=gpt, cond_dropout=1.0,
                              tokenizer=dict(TINY_VQ, codebook_size=16, checkpoint=str(tmp_path / 'vq.pt'))))
    data = one_batch(4)
    loss = model(**data)['loss_ce']
    with torch.no_grad():
        tokens = model.tokenizer.encode(data['image'])
    null = torch.full((4,), 12)
    expected = torch.nn.functional.cross_entropy(model.generator(tokens, null).flatten(0, 1), tokens.flatten())
    torch.testing.assert_close(loss, expected)
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    model.train()  # as the Runner does: the frozen tokenizer stays in eval mode
    assert model.generator.training and not model.tokenizer.training


def test_export_writes_the_loader_format(tmp_path):
    class Runner:
        work_dir = str(tmp_path)
        model = MODELS.build(dict(type='VQTokenizerTrainer', tokenizer=dict(TINY_VQ, codebook_size=16)))

    ExportWeightsHook('tokenizer', 'vq.pt').after_train(Runner)
    loaded = TOKENIZERS.build(dict(TINY_VQ, codebook_size=16, checkpoint=str(tmp_path / 'vq.pt')))
    for a, b in zip(loaded.state_dict().values(), Runner.model.tokenizer.state_dict().values()):
        assert torch.equal(a, b)
    assert set(torch.load(tmp_path / 'vq.pt', weights_only=True)) == {'model'}


def test_classifier_reward_scores_the_prompted_class(tmp_path):
    import timm
    torch.manual_seed(0)
    net = timm.create_model('test_resnet', pretrained=False, num_classes=12)
    torch.save(net.state_dict(), tmp_path / 'cls.pth')
    kwargs = dict(type='ClassifierReward', model_name='test_resnet', model_options=dict(num_classes=12),
                  image_size=32, checkpoint=str(tmp_path / 'cls.pth'), template='a {}')
    prob, correct = REWARDS.build(kwargs), REWARDS.build(dict(kwargs, output='correct'))
    data = one_batch(6)
    prompts = [f'a {class_names()[int(label)]}' for label in data['label']]
    logits = prob.net(data['image'])['logits'].log_softmax(-1)
    expected = logits.exp()[torch.arange(6), data['label']]
    torch.testing.assert_close(prob(data['image'], prompts), expected)
    torch.testing.assert_close(correct(data['image'], prompts), (logits.argmax(-1) == data['label']).float())
    with pytest.raises(KeyError, match='name no class'):
        prob(data['image'], ['a purple hexagon'] * 6)


def test_diversity_is_the_mean_pairwise_cosine_distance():
    features = [[1.0, 0], [0, 2.0], [1.0, 1], [2.0, 2], [5.0, 1]]
    prompts = ['a', 'a', 'b', 'b', 'c']  # a: orthogonal (1), b: parallel (0), c: a single sample
    assert group_diversity(np.array(features), prompts) == pytest.approx((1.0 + 0.0) / 2)
    with pytest.raises(ValueError, match='two samples'):
        group_diversity(np.array(features), list('vwxyz'))


def test_scene_attributes_parse_captions_and_score_each_attribute(tmp_path):
    from argrpo.rewards.scene_attributes import HEADS, caption_attributes
    assert caption_attributes('a small red circle above a large blue square') == [0, 0, 2, 1]
    assert caption_attributes('a large blue square below a small red circle') == [0, 0, 2, 1]
    with pytest.raises(ValueError, match='two-object caption'):
        caption_attributes('a purple circle above a red square')
    import timm
    torch.manual_seed(0)
    torch.save(timm.create_model('test_resnet', pretrained=False, num_classes=14).state_dict(), tmp_path / 'a.pth')
    kwargs = dict(type='SceneAttributeReward', model_name='test_resnet', model_options=dict(num_classes=14),
                  image_size=32, checkpoint=str(tmp_path / 'a.pth'))
    prob, correct = REWARDS.build(kwargs), REWARDS.build(dict(kwargs, output='correct', name='g'))
    world = ShapesDataset(6, mode='caption')
    images = torch.stack([world[i]['image'] for i in range(6)])
    prompts = [world[i]['prompt'] for i in range(6)]
    groups = prob.net(images)['logits'].split(HEADS, -1)
    target = torch.stack([world[i]['attributes'] for i in range(6)])  # the world's own truth
    assert target.tolist() == [caption_attributes(p) for p in prompts]
    expected = torch.stack([g.softmax(-1)[torch.arange(6), target[:, i]] for i, g in enumerate(groups)], -1)
    torch.testing.assert_close(prob(images, prompts), expected.mean(-1))
    right = torch.stack([g.argmax(-1) == target[:, i] for i, g in enumerate(groups)], -1).float()
    parts = correct.components(images, prompts)
    torch.testing.assert_close(parts['g_top_shape'], right[:, 1])
    torch.testing.assert_close(parts['g_all'], right.min(-1).values)
    torch.testing.assert_close(correct.combine(parts), right.mean(-1))


def test_clip_text_encoder_gives_left_padded_token_features(tmp_path):
    from argrpo.utils import create_open_clip
    torch.manual_seed(0)
    clip = create_open_clip('ShapesCLIP-Tiny')
    torch.save(clip.state_dict(), tmp_path / 'clip.pth')
    encoder = TOKENIZERS.build(dict(type='CLIPTextEncoder', arch='ShapesCLIP-Tiny',
                                    checkpoint=str(tmp_path / 'clip.pth')))
    captions = ['a red circle', 'a small red circle above a large blue square']
    features, mask = encoder(captions)
    assert features.shape == (2, 16, 64) and mask[0].tolist() == [0] * 11 + [1] * 5  # sot a red circle eot
    assert features[0, :11].abs().sum() == 0
    # the last real token's feature, projected, is CLIP's own text embedding
    pooled = features[:, -1] @ clip.text_projection
    import open_clip
    with torch.no_grad():
        expected = clip.encode_text(open_clip.get_tokenizer('ShapesCLIP-Tiny')(captions))
    torch.testing.assert_close(pooled, expected, atol=1e-5, rtol=1e-4)
