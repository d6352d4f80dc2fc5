"""The shapes world (projects/shapes_world): its scenes, its caption grammar, its attribute judge
and the trainers of its judges and CLIP."""
import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper

from argrpo.registry import MODELS, REWARDS
from projects.shapes_world.shapes_world import ShapesDataset, class_names, describe, parse
from projects.shapes_world.shapes_world.dataset import sample_scene
from projects.shapes_world.shapes_world.scene import COLORS, SHAPES, render
from projects.shapes_world.shapes_world.scene_attributes import HEADS, caption_attributes


def test_world_is_seeded_and_labels_match_captions():
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
    assert len(class_names()) == len(COLORS) * len(SHAPES) == len(set(class_names()))


def test_captions_parse_back_to_the_scene_that_wrote_them():
    rng, relations = np.random.default_rng(0), set()
    for i in range(400):
        objects, _, caption = sample_scene(rng, ('class', 'caption')[i % 2])
        assert parse(caption) == [dict(size=o['size'], color=o['color'], shape=o['shape']) for o in objects]
        relations |= {w for w in caption.split() if w in ('above', 'below')}
    assert relations == {'above', 'below'}
    top, bottom = dict(size='small', color='red', shape='circle'), dict(size='large', color='blue', shape='square')
    assert describe([top, bottom], 'above') == 'a small red circle above a large blue square'
    assert describe([top, bottom], 'below') == 'a large blue square below a small red circle'
    assert parse('a large blue square below a small red circle') == [top, bottom]


@pytest.mark.parametrize('caption', [
    'a purple circle above a red square', 'a small purple circle', 'a small red hexagon',
    'a small red circle beside a large blue square', 'a small red circle above', 'an small red circle',
    'a small red circle above a large blue square and more', ''])
def test_a_foreign_caption_is_an_error_that_quotes_it(caption):
    with pytest.raises(ValueError, match='not a caption of the shapes world'):
        parse(caption)


def one_batch(n=8, mode='class'):
    world = ShapesDataset(n, mode=mode)
    items = [world[i] for i in range(n)]
    return dict(image=torch.stack([i['image'] for i in items]), label=torch.tensor([i['label'] for i in items]),
                prompt=[i['prompt'] for i in items], attributes=torch.stack([i['attributes'] for i in items]))


@pytest.mark.parametrize('cfg', [
    dict(type='ImageClassifierTrainer', model_name='test_resnet', model_options=dict(num_classes=12), image_size=32),
    dict(type='ImageClassifierTrainer', model_name='test_resnet', model_options=dict(num_classes=14), image_size=32,
         heads=HEADS),
    dict(type='CLIPTrainer', arch='ShapesCLIP-Tiny'),
], ids=['classifier', 'attributes', 'clip'])
def test_judge_trainers_lower_their_loss_on_a_batch(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    data = one_batch(mode='caption' if 'heads' in cfg else 'class')
    losses = [model.train_step(data, optim)['loss'].item() for _ in range(15)]
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0], losses


def test_scene_attributes_read_captions_and_score_each_attribute(tmp_path):
    assert caption_attributes('a small red circle above a large blue square') == [0, 0, 2, 1]
    assert caption_attributes('a large blue square below a small red circle') == [0, 0, 2, 1]
    with pytest.raises(ValueError, match='two-object caption'):
        caption_attributes('a small red circle')
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
