"""Tiny random models of the text-to-image preference rewards, written in each real file format:
PickScore (a CLIPModel save_pretrained directory, a CLIPProcessor directory beside it), the LAION
aesthetic head (a state dict with the file's key names), ImageReward (``ImageReward.pt``,
``med_config.json``, a BERT tokenizer directory; models from the stand-in package)."""
import os.path as osp
import string
import sys
from pathlib import Path
from typing import Dict, Tuple

import torch

TESTS = osp.dirname(osp.abspath(__file__))
IMAGE_REWARD_STAND_IN = osp.join(TESTS, 'stand_ins', 'image_reward')  # a fake `ImageReward` package
LETTERS = list(string.ascii_lowercase + string.digits + ".,'-")


def save_pickscore(folder: Path, image_size: int = 32) -> Tuple[str, str]:
    """A tiny CLIPModel (``PickScore_v1``'s format) and its processor in another directory (as
    PickScore takes laion's): their two paths."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1}
    for suffix in ('', '</w>'):  # a character-level BPE vocabulary without merges
        vocab.update({c + suffix: len(vocab) + i for i, c in enumerate(LETTERS)})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    images = CLIPImageProcessor(size={'shortest_edge': image_size},
                                crop_size={'height': image_size, 'width': image_size})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder / 'processor')
    torch.manual_seed(0)
    layers = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    config = CLIPConfig(projection_dim=16, logit_scale_init_value=3.0,
                        text_config=dict(layers, vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=0,
                                         eos_token_id=1, pad_token_id=1),
                        vision_config=dict(layers, image_size=image_size, patch_size=8))
    CLIPModel(config).save_pretrained(folder / 'PickScore_v1')
    return str(folder / 'PickScore_v1'), str(folder / 'processor')


def aesthetic_head(in_features: int, seed: int = 0) -> Dict[str, torch.Tensor]:
    """The state dict of ``sac+logos+ava1-l14-linearMSE.pth``'s layout (for ``in_features``)."""
    gen = torch.Generator().manual_seed(seed)
    widths, state = (in_features, 1024, 128, 64, 16, 1), {}
    for index, (n_in, n_out) in zip((0, 2, 4, 6, 7), zip(widths, widths[1:])):
        state[f'layers.{index}.weight'] = torch.randn(n_out, n_in, generator=gen) / n_in ** 0.5
        state[f'layers.{index}.bias'] = torch.randn(n_out, generator=gen) * 0.1
    return state


def save_image_reward(folder: Path) -> Dict[str, str]:
    """A tiny ImageReward from the stand-in package: ``checkpoint``, ``med_config`` and
    ``tokenizer`` paths (the reward's arguments). Puts the stand-in on ``sys.path``."""
    from transformers import BertConfig, BertTokenizer
    if IMAGE_REWARD_STAND_IN not in sys.path:
        sys.path.insert(0, IMAGE_REWARD_STAND_IN)
    import ImageReward

    from argrpo.rewards.image_reward import local_bert_tokenizer
    words = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + LETTERS + ['##' + c for c in LETTERS]
    BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(folder / 'bert-base-uncased')
    # BLIP's text encoder: BERT with BLIP's 2 tokens more ([DEC], [ENC])
    BertConfig(vocab_size=len(words) + 2, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=40).to_json_file(folder / 'med_config.json')
    paths = dict(checkpoint=str(folder / 'ImageReward.pt'), med_config=str(folder / 'med_config.json'),
                 tokenizer=str(folder / 'bert-base-uncased'))
    torch.manual_seed(0)
    with local_bert_tokenizer(paths['tokenizer']):
        model = ImageReward.ImageReward(med_config=paths['med_config'])
    with torch.no_grad():  # weights large enough that the image moves the score
        for p in model.parameters():
            p.normal_(0, 0.3)
    torch.save(model.state_dict(), paths['checkpoint'])
    return paths

