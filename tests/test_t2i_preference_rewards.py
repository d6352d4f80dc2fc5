"""PickScore, the LAION aesthetic predictor and ImageReward: tiny random models written in each
real file format, scores checked against computations by hand, missing files named; ImageReward
also served by tools/reward_server.py with the stand-in package on its PYTHONPATH (as in its own
environment) and scored through RemoteReward."""
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from argrpo_testing import save_tiny_open_clip
from http_servers import ToolServer
from t2i_reward_files import IMAGE_REWARD_STAND_IN, aesthetic_head, save_image_reward, save_pickscore

from argrpo.registry import REWARDS
from argrpo.rewards import RemoteReward
from argrpo.utils import quantize

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the tiny tokenizers spell words letter by letter: the last prompt is over ImageReward's 35 tokens
PROMPTS = ['a red dog.', 'two cats on a sofa', "an astronaut's horse riding on the moon at night"]
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def images_of(size: int, n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def clip_normalised(images: torch.Tensor) -> torch.Tensor:
    """Images already at the model's input size: only [0, 1] and CLIP's mean / std."""
    return ((images + 1) / 2 - CLIP_MEAN) / CLIP_STD


@pytest.fixture(scope='module')
def pickscore_dirs(tmp_path_factory):
    return save_pickscore(tmp_path_factory.mktemp('pickscore'))


@pytest.fixture(scope='module')
def image_reward_files(tmp_path_factory):
    return save_image_reward(tmp_path_factory.mktemp('image_reward'))


def test_pickscore_is_the_clip_models_own_logit(pickscore_dirs):
    from transformers import CLIPModel, CLIPProcessor
    model_dir, processor_dir = pickscore_dirs
    reward = REWARDS.build(dict(type='PickScore', path=model_dir, processor=processor_dir))
    images = images_of(32)
    # independent: the saved model's forward, whose logits_per_image are logit_scale.exp() * cosines
    model = CLIPModel.from_pretrained(model_dir, local_files_only=True).eval()
    text = CLIPProcessor.from_pretrained(processor_dir)(text=PROMPTS, padding=True, return_tensors='pt')
    with torch.no_grad():
        logits = model(input_ids=text['input_ids'], attention_mask=text['attention_mask'],
                       pixel_values=clip_normalised(images)).logits_per_image
    torch.testing.assert_close(reward(images, PROMPTS), logits.diagonal(), atol=1e-4, rtol=1e-4)
    assert logits.diagonal().std() > 1e-3  # the scores differ: a wrong pairing would show
    assert not any(p.requires_grad for p in reward.parameters())
    scaled = REWARDS.build(dict(type='PickScore', path=model_dir, processor=processor_dir, scale=0.01))
    torch.testing.assert_close(scaled(images, PROMPTS), 0.01 * logits.diagonal(), atol=1e-5, rtol=1e-4)


def test_pickscore_names_the_missing_directory_and_how_to_get_it(pickscore_dirs, tmp_path):
    model_dir, _ = pickscore_dirs
    with pytest.raises(FileNotFoundError, match=r'(?s)absent/config\.json.*yuvalkirstain/PickScore_v1'):
        REWARDS.build(dict(type='PickScore', path=str(tmp_path / 'absent')))
    # the model's directory holds no processor: PickScore's comes from laion's CLIP-H
    with pytest.raises(FileNotFoundError, match=r'(?s)tokenizer_config\.json.*laion/CLIP-ViT-H-14'):
        REWARDS.build(dict(type='PickScore', path=model_dir))


@pytest.fixture(scope='module')
def tiny_open_clip(tmp_path_factory):
    """A tiny open_clip architecture (registered from its JSON config) and a file of its weights."""
    return save_tiny_open_clip(tmp_path_factory.mktemp('open_clip'), 'AestheticTest-Tiny',
                               'open_clip_pytorch_model.bin', embed_dim=24)


def test_aesthetic_is_the_head_on_the_normalised_clip_embedding(tiny_open_clip, tmp_path):
    arch, clip_file, clip = tiny_open_clip
    head = aesthetic_head(24)
    torch.save(head, tmp_path / 'sac+logos+ava1-l14-linearMSE.pth')
    reward = REWARDS.build(dict(type='LAIONAesthetic', arch=arch, clip_checkpoint=clip_file,
                                checkpoint=str(tmp_path / 'sac+logos+ava1-l14-linearMSE.pth')))
    images = images_of(32)
    with torch.no_grad():  # independent: the five linear layers by hand, no activation between
        x = F.normalize(clip.encode_image(clip_normalised(images)), dim=-1)
        for index in (0, 2, 4, 6, 7):
            x = x @ head[f'layers.{index}.weight'].T + head[f'layers.{index}.bias']
    torch.testing.assert_close(reward(images, PROMPTS), x[:, 0], atol=1e-5, rtol=1e-4)
    assert x.std() > 1e-3


def test_aesthetic_errors_name_the_files(tiny_open_clip, tmp_path):
    arch, clip_file, _ = tiny_open_clip
    with pytest.raises(FileNotFoundError, match=r'(?s)absent\.pth.*sac\+logos\+ava1-l14-linearMSE\.pth'):
        REWARDS.build(dict(type='LAIONAesthetic', arch=arch, clip_checkpoint=clip_file,
                           checkpoint=str(tmp_path / 'absent.pth')))
    torch.save(aesthetic_head(24), tmp_path / 'head.pth')
    with pytest.raises(FileNotFoundError, match='vit_large_patch14_clip_224.openai'):
        REWARDS.build(dict(type='LAIONAesthetic', arch=arch, checkpoint=str(tmp_path / 'head.pth')))
    # a head saved under another prefix is not the predictor's file
    torch.save({f'mlp.{k}': v for k, v in aesthetic_head(24).items()}, tmp_path / 'prefixed.pth')
    with pytest.raises(RuntimeError, match='missing in file: layers.0.bias'):
        REWARDS.build(dict(type='LAIONAesthetic', arch=arch, clip_checkpoint=clip_file,
                           checkpoint=str(tmp_path / 'prefixed.pth')))


def image_reward_by_hand(files: dict, images: torch.Tensor) -> torch.Tensor:
    """The stand-in's modules, loaded strictly from the checkpoint, run as ImageReward's ``score``
    does: BLIP's [CLS] feature of the prompt (35 tokens) attending to the image, the MLP, then
    the package's normalisation."""
    import ImageReward
    from transformers import BertTokenizer

    from argrpo.rewards.image_reward import local_bert_tokenizer
    with local_bert_tokenizer(files['tokenizer']):
        model = ImageReward.ImageReward(med_config=files['med_config']).eval()
    model.load_state_dict(torch.load(files['checkpoint'], weights_only=True))
    text = BertTokenizer.from_pretrained(files['tokenizer'])(PROMPTS, padding='max_length', truncation=True,
                                                             max_length=35, return_tensors='pt')
    with torch.no_grad():
        embeds = model.blip.visual_encoder(clip_normalised(images))
        cls = model.blip.text_encoder(text.input_ids, attention_mask=text.attention_mask,
                                      encoder_hidden_states=embeds,
                                      encoder_attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                                      return_dict=True).last_hidden_state[:, 0]
        return (model.mlp(cls)[:, 0] - 0.16717362830052426) / 1.0333394966054072


def test_image_reward_scores_as_the_package_does(image_reward_files, tmp_path):
    reward = REWARDS.build(dict(type='ImageReward', **image_reward_files))
    images = images_of(224)
    expected = image_reward_by_hand(image_reward_files, images)
    torch.testing.assert_close(reward(images, PROMPTS), expected, atol=1e-5, rtol=1e-4)
    assert expected.std() > 1e-3
    assert (reward(images, PROMPTS[::-1]) - expected).abs().max() > 1e-3  # the prompt counts too
    # the scored parts must all be in the checkpoint; BLIP's projection heads need not
    state = torch.load(image_reward_files['checkpoint'], weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith('blip.vision_proj')}, tmp_path / 'no_proj.pt')
    REWARDS.build(dict(image_reward_files, type='ImageReward', checkpoint=str(tmp_path / 'no_proj.pt')))
    torch.save({k: v for k, v in state.items() if not k.startswith('mlp.')}, tmp_path / 'no_mlp.pt')
    with pytest.raises(RuntimeError, match=r"does not fit.*'mlp\.layers\.0\.weight'"):
        REWARDS.build(dict(image_reward_files, type='ImageReward', checkpoint=str(tmp_path / 'no_mlp.pt')))


def test_image_reward_errors_name_the_files_and_the_environment(image_reward_files, tmp_path, monkeypatch):
    for key, name in (('checkpoint', 'ImageReward.pt'), ('med_config', 'med_config.json'),
                      ('tokenizer', 'tokenizer_config.json')):
        files = dict(image_reward_files, **{key: str(tmp_path / 'absent')})
        with pytest.raises(FileNotFoundError, match=rf'(?s){name}.*THUDM/ImageReward'):
            REWARDS.build(dict(type='ImageReward', **files))
    monkeypatch.setitem(sys.modules, 'ImageReward', None)  # the core environment: no package
    with pytest.raises(ImportError, match=r'(?s)image-reward.*tools/envs/image_reward_env\.sh.*RemoteReward'):
        REWARDS.build(dict(type='ImageReward', **image_reward_files))


def test_image_reward_service_config_serves_the_reward(image_reward_files, tmp_path, monkeypatch):
    """The ImageReward environment's path, with the stand-in package: the service config (its
    files swapped for the tiny ones) served by tools/reward_server.py, scored by RemoteReward."""
    monkeypatch.delenv('ARGRPO_REWARD_TOKEN', raising=False)
    config = tmp_path / 'image_reward_service.py'
    config.write_text(f"_base_ = [{osp.join(ROOT, 'configs', 'reward_services', 'image_reward.py')!r}]\n"
                      f'reward = dict({", ".join(f"{k}={v!r}" for k, v in image_reward_files.items())})\n')
    images = quantize(images_of(224, seed=1))  # what the uint8 wire carries exactly
    local = REWARDS.build(dict(type='ImageReward', **image_reward_files))(images, PROMPTS)
    server = ToolServer(str(config), str(tmp_path / 'server.log'), reward_type='ImageReward',
                        reward_name='imagereward', python_path=[IMAGE_REWARD_STAND_IN])
    server.start()
    try:
        got = RemoteReward(server.url, name='remote').components(images, PROMPTS)
    finally:
        server.stop()
    assert set(got) == {'imagereward', 'remote'}
    torch.testing.assert_close(got['imagereward'], local, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got['remote'], local, atol=1e-5, rtol=1e-4)
