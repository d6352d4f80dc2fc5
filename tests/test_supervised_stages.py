"""The library pieces that supervised stages before GRPO use (and the shapes demo runs on): the VQ
and next-token trainers, the export format, the classifier reward, the open_clip text encoder,
and the diversity metric. Images here are smooth random blocks; the world's own tests are
tests/test_shapes_world*.py."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from argrpo_testing import TINY_VQ, randomize, save_tiny_open_clip
from mmengine.optim import OptimWrapper

from argrpo.datasets import ClassPromptDataset, resolve_class_names
from argrpo.engine import ExportWeightsHook
from argrpo.evaluation import group_diversity
from argrpo.registry import MODELS, REWARDS, TOKENIZERS

VQ16 = dict(TINY_VQ, codebook_size=16)  # 32 px / 2 = 16x16 tokens


def blocks(n: int, seed: int = 0) -> torch.Tensor:
    """[n, 3, 32, 32] images in [-1, 1] made of 4x4 flat blocks."""
    coarse = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return F.interpolate(coarse, size=32, mode='nearest')


def test_vq_trainer_lowers_its_loss_on_a_batch():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='VQTokenizerTrainer', tokenizer=VQ16))
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    data = dict(image=blocks(8))
    losses = [model.train_step(data, optim)['loss'].item() for _ in range(15)]
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0], losses


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    """A tiny open_clip architecture registered from its JSON config, and a file of its weights."""
    return save_tiny_open_clip(tmp_path_factory.mktemp('clip_configs'), 'TestCLIP-Tiny')


def sft_model(tmp_path, generator: dict, text_encoder=None):
    vq = TOKENIZERS.build(VQ16)
    torch.save({'model': vq.state_dict()}, tmp_path / 'vq.pt')
    model = MODELS.build(dict(type='ARSFTModel', generator=generator, text_encoder=text_encoder,
                              tokenizer=dict(VQ16, checkpoint=str(tmp_path / 'vq.pt'))))
    randomize(model.generator, std=0.1)  # LlamaGen zero-initialises the output layer
    return model


def expected_loss(model, images, cond, mask=None):
    with torch.no_grad():
        tokens = model.tokenizer.encode(images)
    return F.cross_entropy(model.generator(tokens, cond, mask).flatten(0, 1), tokens.flatten())


@pytest.mark.parametrize('rate', [1.0, 0.0])
def test_sft_drops_labels_at_the_generators_class_dropout_prob(tmp_path, rate):
    gpt = dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32, vocab_size=16,
               block_size=256, num_classes=12, class_dropout_prob=rate)
    model = sft_model(tmp_path, gpt)
    images, labels, others = blocks(4), torch.tensor([0, 3, 7, 11]), torch.tensor([1, 4, 8, 10])
    loss = model(image=images, label=labels)['loss_ce']
    torch.testing.assert_close(loss, expected_loss(model, images, torch.full((4,), 12) if rate else labels))
    assert not torch.allclose(loss, expected_loss(model, images, others))  # the condition matters
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    model.train()  # as the Runner does: the frozen tokenizer stays in eval mode
    assert model.generator.training and not model.tokenizer.training


def test_sft_drops_captions_to_the_learned_null_caption(tmp_path, tiny_clip):
    arch, checkpoint, _ = tiny_clip
    gpt = dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32, vocab_size=16, block_size=256,
               model_type='t2i', caption_dim=32, cls_token_num=16, class_dropout_prob=1.0)
    model = sft_model(tmp_path, gpt, dict(type='CLIPTextEncoder', arch=arch, checkpoint=checkpoint))
    images, prompts = blocks(2), ['a red circle', 'a small blue square above a large red circle']
    features, mask = model.text_encoder(prompts)
    loss = model(image=images, prompt=prompts)['loss_ce']
    torch.testing.assert_close(loss, expected_loss(model, images, model.generator.null_condition(features), mask))
    assert not torch.allclose(loss, expected_loss(model, images, features, mask))


def test_export_writes_the_loader_format(tmp_path):
    class Runner:
        work_dir = str(tmp_path)
        model = MODELS.build(dict(type='VQTokenizerTrainer', tokenizer=VQ16))

    ExportWeightsHook('tokenizer', 'vq.pt').after_train(Runner)
    loaded = TOKENIZERS.build(dict(VQ16, checkpoint=str(tmp_path / 'vq.pt')))
    for a, b in zip(loaded.state_dict().values(), Runner.model.tokenizer.state_dict().values()):
        assert torch.equal(a, b)
    assert set(torch.load(tmp_path / 'vq.pt', weights_only=True)) == {'model'}


def test_export_can_store_large_tables_in_float16(tmp_path):
    class Runner:
        work_dir = str(tmp_path)
        model = MODELS.build(dict(type='VQTokenizerTrainer', tokenizer=VQ16))

    key = 'quantize.embedding.weight'
    ExportWeightsHook('tokenizer', 'vq.pt', half=[key]).after_train(Runner)
    saved = torch.load(tmp_path / 'vq.pt', weights_only=True)['model']
    assert saved[key].dtype == torch.float16 and saved['quant_conv.weight'].dtype == torch.float32
    loaded = TOKENIZERS.build(dict(VQ16, checkpoint=str(tmp_path / 'vq.pt')))  # cast back by the loader
    table = Runner.model.tokenizer.state_dict()[key]
    assert loaded.state_dict()[key].dtype == torch.float32
    torch.testing.assert_close(loaded.state_dict()[key], table.half().float(), rtol=0, atol=0)
    with pytest.raises(KeyError, match=r"half=\['embedding'\]: not in the state dict of tokenizer"):
        ExportWeightsHook('tokenizer', 'x.pt', half=['embedding']).after_train(Runner)


def test_class_names_are_imagenet_or_a_list():
    assert len(resolve_class_names('imagenet')) == 1000
    assert resolve_class_names(('cat', 'dog')) == ['cat', 'dog']
    with pytest.raises(ValueError, match="'imagenet' or a list"):
        resolve_class_names('shapes')
    assert ClassPromptDataset()[207]['prompt'] == 'a photo of a Golden Retriever.'


def test_classifier_reward_scores_the_prompted_class(tmp_path):
    import timm
    torch.manual_seed(0)
    net = timm.create_model('test_resnet', pretrained=False, num_classes=4)
    torch.save(net.state_dict(), tmp_path / 'cls.pth')
    names = ['red circle', 'red square', 'blue circle', 'blue square']
    kwargs = dict(type='ClassifierReward', model_name='test_resnet', model_options=dict(num_classes=4),
                  image_size=32, checkpoint=str(tmp_path / 'cls.pth'), class_names=names, template='a {}')
    prob, correct = REWARDS.build(kwargs), REWARDS.build(dict(kwargs, output='correct'))
    images, labels = blocks(6), torch.tensor([0, 1, 2, 3, 2, 0])
    prompts = [f'a {names[label]}' for label in labels]
    logits = prob.net(images)['logits'].log_softmax(-1)
    torch.testing.assert_close(prob(images, prompts), logits.exp()[torch.arange(6), labels])
    torch.testing.assert_close(correct(images, prompts), (logits.argmax(-1) == labels).float())
    with pytest.raises(KeyError, match='name no class'):
        prob(images, ['a purple hexagon'] * 6)


def test_clip_text_encoder_gives_left_padded_token_features(tiny_clip):
    import open_clip
    arch, checkpoint, clip = tiny_clip
    encoder = TOKENIZERS.build(dict(type='CLIPTextEncoder', arch=arch, checkpoint=checkpoint))
    captions = ['a red circle', 'a small red circle above a large blue square']
    features, mask = encoder(captions)
    assert features.shape == (2, 16, 32) and mask[0].tolist() == [0] * 11 + [1] * 5  # sot a red circle eot
    assert features[0, :11].abs().sum() == 0
    # the last real token's feature, projected, is CLIP's own text embedding
    pooled = features[:, -1] @ clip.text_projection
    with torch.no_grad():
        expected = clip.encode_text(open_clip.get_tokenizer(arch)(captions))
    torch.testing.assert_close(pooled, expected, atol=1e-5, rtol=1e-4)


def test_diversity_is_the_mean_pairwise_cosine_distance():
    features = [[1.0, 0], [0, 2.0], [1.0, 1], [2.0, 2], [5.0, 1]]
    prompts = ['a', 'a', 'b', 'b', 'c']  # a: orthogonal (1), b: parallel (0), c: a single sample
    assert group_diversity(np.array(features), prompts) == pytest.approx((1.0 + 0.0) / 2)
    with pytest.raises(ValueError, match='two samples'):
        group_diversity(np.array(features), list('vwxyz'))
