"""Backbones that turn images into the features the distribution metrics compare.

Each maps images in [-1, 1] (any size; they are first rounded through uint8, as saved samples
are) to a dict: ``pool`` [N, D] always, ``logits`` [N, K] for a classifier head (Inception
Score), ``spatial`` [N, S] for sFID. ``identity`` names the network and a digest of its weights,
so that reference statistics computed with another extractor are refused.
"""
from typing import Dict, Optional, Sequence
from unittest import mock

import torch.nn.functional as F
from torch import Tensor, nn

from argrpo.registry import FEATURE_EXTRACTORS, TOKENIZERS
from argrpo.utils import (file_digest, frozen, load_open_clip, load_weights, open_clip_input, prepare_images, quantize,
                          require_file)


class FeatureExtractor(nn.Module):
    identity: str
    outputs: Sequence[str] = ('pool',)

    def __init__(self, kind: str, checkpoint: Optional[str], how_to_get: str):
        super().__init__()
        self.checkpoint = require_file(checkpoint, f'{kind} feature extractor weights', how_to_get)
        self.identity = f'{kind}@{file_digest(self.checkpoint)}'

    def forward(self, images: Tensor) -> Dict[str, Tensor]:
        raise NotImplementedError


@FEATURE_EXTRACTORS.register_module()
class FIDInception(FeatureExtractor):
    """The TensorFlow FID Inception-v3 ported to PyTorch (pytorch-fid, as shipped by pyiqa), with
    ``pt_inception-2015-12-05-6726825d.pth`` read from a local file. ``pool``: the 2048-d pool_3
    features of FID; ``logits``: the bias-free 1008-way logits of the ADM evaluator's Inception
    Score; ``spatial``: the first 7 channels of ``mixed_6/conv`` (Mixed_6d's 1x1 branch, 17x17),
    flattened to 2023 values, the sFID features of Nash et al. 2021."""

    outputs = ('pool', 'logits', 'spatial')
    how_to_get = ('Download pt_inception-2015-12-05-6726825d.pth (the pytorch-fid release) and '
                  'point checkpoint= at it.')

    def __init__(self, checkpoint: Optional[str] = None):
        super().__init__('FIDInception', checkpoint, self.how_to_get)
        import pyiqa.archs.inception as inception
        with mock.patch.object(inception, 'load_pretrained_network', lambda *args, **kwargs: None):
            self.net = inception.fid_inception_v3()
        load_weights(self.net, self.checkpoint, 'FID Inception weights', self.how_to_get)
        frozen(self.net)

    def forward(self, images: Tensor) -> Dict[str, Tensor]:
        net = self.net
        x = (quantize(images) + 1) / 2
        x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False) * 2 - 1
        for name in ('Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'maxpool1', 'Conv2d_3b_1x1',
                     'Conv2d_4a_3x3', 'maxpool2', 'Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a',
                     'Mixed_6b', 'Mixed_6c'):
            x = getattr(net, name)(x)
        spatial = net.Mixed_6d.branch1x1(x)[:, :7].flatten(1)
        for name in ('Mixed_6d', 'Mixed_6e', 'Mixed_7a', 'Mixed_7b', 'Mixed_7c', 'avgpool'):
            x = getattr(net, name)(x)
        pool = x.flatten(1)
        return dict(pool=pool, logits=pool @ net.fc.weight.T, spatial=spatial)


def timm_input(net: nn.Module, image_size: Optional[int] = None, mean: Optional[Sequence[float]] = None,
               std: Optional[Sequence[float]] = None):
    """Input size, mean and std of a timm model: the given ones, else its ``pretrained_cfg``'s
    (shared by the classifiers' training and their use, so that both see the same inputs)."""
    cfg = net.pretrained_cfg
    return image_size or cfg['input_size'][-1], mean or cfg['mean'], std or cfg['std']


@FEATURE_EXTRACTORS.register_module()
class TimmFeatures(FeatureExtractor):
    """Any timm model (e.g. a DINOv2 ViT, or the demo's held-out classifier): ``pool`` is the
    pre-logits embedding, ``logits`` the classifier output when the model has a head.

    Args:
        model_name: the timm architecture, built with ``pretrained=False``.
        checkpoint: its weights (state dict file), loaded strictly.
        model_options: more ``timm.create_model`` arguments (``num_classes``, ``img_size``...).
        image_size, mean, std: input preprocessing; default: the model's ``pretrained_cfg``.
    """

    def __init__(self, model_name: str, checkpoint: Optional[str] = None, model_options: Optional[dict] = None,
                 image_size: Optional[int] = None, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None):
        how_to_get = f'Save the weights of timm model {model_name!r} to a local file.'
        super().__init__(f'timm:{model_name}', checkpoint, how_to_get)
        import timm
        self.net = timm.create_model(model_name, pretrained=False, **(model_options or {}))
        load_weights(self.net, self.checkpoint, f'timm {model_name} weights', how_to_get)
        frozen(self.net)
        self.image_size, self.mean, self.std = timm_input(self.net, image_size, mean, std)
        self.outputs = ('pool', 'logits') if getattr(self.net, 'num_classes', 0) else ('pool',)

    def forward(self, images: Tensor) -> Dict[str, Tensor]:
        x = prepare_images(quantize(images), self.image_size, self.mean, self.std)
        fmap = self.net.forward_features(x)
        out = dict(pool=self.net.forward_head(fmap, pre_logits=True).flatten(1))
        if 'logits' in self.outputs:
            out['logits'] = self.net.forward_head(fmap)
        return out


@FEATURE_EXTRACTORS.register_module()
class OpenCLIPFeatures(FeatureExtractor):
    """open_clip image embeddings (a Fréchet CLIP distance, less tied to ImageNet classes)."""

    def __init__(self, arch: str = 'ViT-L-14', checkpoint: Optional[str] = None):
        how_to_get = f'Save the open_clip weights of {arch} to a local file.'
        super().__init__(f'open_clip:{arch}', checkpoint, how_to_get)
        self.model = load_open_clip(arch, self.checkpoint, 'OpenCLIPFeatures', how_to_get)
        frozen(self.model)
        self.image_size, self.mean, self.std = open_clip_input(self.model)

    def forward(self, images: Tensor) -> Dict[str, Tensor]:
        x = prepare_images(quantize(images), self.image_size, self.mean, self.std)
        return dict(pool=self.model.encode_image(x).float())


@FEATURE_EXTRACTORS.register_module()
class TokenizerFeatures(FeatureExtractor):
    """A VQ tokenizer's quantised latents (the codebook vectors of the image's tokens), average-pooled
    to a ``grid`` x ``grid`` layout: ``pool`` [N, codebook_embed_dim * grid ** 2] for any image size
    (bins overlap where the latent side is not a multiple of ``grid``). They keep where a thing is,
    its size and the background, which a classifier's embedding is trained to ignore: a distribution
    reward in them sees a collapse of layout.

    Args:
        tokenizer: a TOKENIZERS config with its ``checkpoint``.
        grid: the pooled layout's side.
    """

    def __init__(self, tokenizer: dict, grid: int = 4):
        super().__init__(f'tokenizer:{tokenizer["type"]}:grid{grid}', tokenizer.get('checkpoint'),
                         'Give the tokenizer config its trained weights (checkpoint=).')
        self.tokenizer = frozen(TOKENIZERS.build(dict(tokenizer, checkpoint=self.checkpoint)))
        self.grid = grid

    def forward(self, images: Tensor) -> Dict[str, Tensor]:
        latents = self.tokenizer.quantize_images(quantize(images))[0]
        return dict(pool=F.adaptive_avg_pool2d(latents.float(), self.grid).flatten(1))
