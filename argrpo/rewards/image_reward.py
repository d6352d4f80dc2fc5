"""ImageReward v1.0 (BLIP ViT-L image encoder, a BERT text encoder attending to it, an MLP on
its [CLS] feature), through the ``image-reward`` package.

That package pins timm 0.6.13 and fairscale, which the core environment cannot take: it runs in an
environment of its own (``tools/envs/image_reward_env.sh``) behind ``tools/reward_server.py``
(``configs/reward_services/image_reward.py``), and runs are scored through ``RemoteReward``. The
package is imported only when the reward is built, so the core imports this module without it.
Nothing is downloaded: weights, BLIP's text config and the BERT tokenizer come from local paths.
"""
import contextlib
import importlib
import os.path as osp
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor

from argrpo.registry import REWARDS
from argrpo.utils import load_state_dict_file, prepare_images, require_file
from .base import BaseReward

HOW_TO_GET = ('On a machine with internet: `huggingface-cli download THUDM/ImageReward ImageReward.pt med_config.json '
              '--local-dir checkpoints/ImageReward` and `huggingface-cli download bert-base-uncased vocab.txt '
              'tokenizer_config.json tokenizer.json config.json --local-dir checkpoints/bert-base-uncased`.')
# ImageReward's preprocessing: CLIP's normalisation at 224 px; prompts cut to 35 BERT tokens
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
# the parts the score reads: each must be in the checkpoint (BLIP's projection heads need not)
SCORED_PARTS = ('blip.visual_encoder.', 'blip.text_encoder.', 'mlp.')


@contextlib.contextmanager
def local_bert_tokenizer(path: str) -> Iterator[None]:
    """BLIP asks transformers for 'bert-base-uncased' by hub name when it is built: give it the
    tokenizer of the local directory ``path`` instead."""
    blip = importlib.import_module('ImageReward.models.BLIP.blip')
    hub_class = blip.BertTokenizer

    class LocalBertTokenizer:
        @staticmethod
        def from_pretrained(name: str, *args, **kwargs):
            return hub_class.from_pretrained(path, *args, local_files_only=True, **kwargs)

    blip.BertTokenizer = LocalBertTokenizer
    try:
        yield
    finally:
        blip.BertTokenizer = hub_class


@REWARDS.register_module()
class ImageReward(BaseReward):
    """``scale * ImageReward(image, prompt)``: the package's normalised score (its mean 0.167 and
    std 1.033 over its training pairs taken out), about -2 to 2.

    Args:
        checkpoint: ``ImageReward.pt`` (a state dict), read with ``weights_only=True``.
        med_config: ``med_config.json``, the BERT config of BLIP's text encoder.
        tokenizer: a local bert-base-uncased tokenizer directory (``save_pretrained`` files).
        image_size: BLIP's input side (224 for ImageReward v1.0).
        max_length: prompts are cut to this many tokens (the package's 35).
        scale: multiplies the score.
    """

    def __init__(self, checkpoint: Optional[str] = None, med_config: Optional[str] = None,
                 tokenizer: Optional[str] = None, image_size: int = 224, max_length: int = 35,
                 scale: float = 1.0, name: Optional[str] = None):
        super().__init__(name or 'imagereward')
        checkpoint = require_file(checkpoint, 'ImageReward checkpoint (ImageReward.pt)', HOW_TO_GET)
        med_config = require_file(med_config, 'ImageReward text encoder config (med_config.json)', HOW_TO_GET)
        require_file(tokenizer and osp.join(tokenizer, 'tokenizer_config.json'),
                     'ImageReward\'s BERT tokenizer (bert-base-uncased)', HOW_TO_GET)
        try:
            package = importlib.import_module('ImageReward')
        except ImportError as error:
            raise ImportError(f'ImageReward needs the image-reward package ({error}), whose pins (timm 0.6.13, '
                              'fairscale) the core environment cannot take: make its own environment with '
                              '`bash tools/envs/image_reward_env.sh` and serve the reward from there with '
                              '`.venv-image-reward/bin/python tools/reward_server.py '
                              'configs/reward_services/image_reward.py`; runs score it with RemoteReward') from None
        with local_bert_tokenizer(tokenizer):
            self.model = package.ImageReward(med_config=med_config, device='cpu')
        state = load_state_dict_file(checkpoint, 'ImageReward checkpoint', HOW_TO_GET)
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [key for key in missing if key.startswith(SCORED_PARTS)]
        if missing or unexpected:
            raise RuntimeError(f'ImageReward checkpoint: {checkpoint} does not fit the model built from '
                               f'{med_config}: missing {missing[:5]}, not in model {unexpected[:5]}')
        self.image_size, self.max_length, self.scale = image_size, max_length, scale
        self.freeze()

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        blip, device = self.model.blip, self.model.mlp.layers[0].weight.device
        pixels = prepare_images(images.to(device), self.image_size, CLIP_MEAN, CLIP_STD)
        text = blip.tokenizer(list(prompts), padding='max_length', truncation=True, max_length=self.max_length,
                              return_tensors='pt').to(device)
        image_embeds = blip.visual_encoder(pixels)
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=device)
        features = blip.text_encoder(text.input_ids, attention_mask=text.attention_mask,
                                     encoder_hidden_states=image_embeds, encoder_attention_mask=image_mask,
                                     return_dict=True).last_hidden_state[:, 0].float()
        rewards = (self.model.mlp(features).squeeze(-1) - self.model.mean) / self.model.std
        return self.scale * rewards
