"""Write the mmdet Mask2Former fixture of ``tests/test_mmdet_conversion.py``.

Run once, in a scratch environment with mmdet (see README.md here), never in argrpo's own:
``python tests/data/mask2former_mmdet/make_fixture.py``. It builds GenEval's detector config
(Mask2Former Swin-S, COCO instances) shrunk to tiny dimensions, gives it random weights, and
saves its checkpoint (mmdet 3.x layout and the same weights in mmdet 2.x's layout), a few test
images and mmdet's own detections on them as GenEval's evaluator obtains them: the image file
through ``inference_detector`` with the mmdet 2.x test pipeline (8-bit image, keep-ratio resize to
1333 x 800, padding with 128 to a multiple of 32, normalisation), every one of the 100 instances.
"""
import os.path as osp

import mmdet
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.apis import inference_detector, init_detector
from mmdet.registry import TRANSFORMS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from PIL import Image, ImageDraw

HERE = osp.dirname(osp.abspath(__file__))
CONFIG = 'mask2former/mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco.py'
# (height, width): resized to 800 x 800, 800 x 1000 (padded to 1024) and 800 x 1067 (1088)
IMAGES = {'shapes_100x100.png': (100, 100), 'shapes_100x125.png': (100, 125),
          'shapes_96x128.png': (96, 128)}
NUM_HEADS = 2


@TRANSFORMS.register_module()
class PadLikeMMDet2(BaseTransform):
    """mmdet 2.x's ``Pad(size_divisor=32, pad_val=128)``: pads bottom-right and records
    ``pad_shape`` but keeps ``img_shape`` (mmcv 2.x's Pad overwrites it), so that the masks are
    cropped to the resized image before being resized to the original one, as in 2.x."""

    def __init__(self, size_divisor: int = 32, value: int = 128):
        self.size_divisor, self.value = size_divisor, value

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        padded = np.full((-(-height // self.size_divisor) * self.size_divisor,
                          -(-width // self.size_divisor) * self.size_divisor, img.shape[2]),
                         self.value, dtype=img.dtype)
        padded[:height, :width] = img
        results['img'] = padded
        results['pad_shape'] = padded.shape
        return results


def tiny_config() -> Config:
    cfg = Config.fromfile(osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', CONFIG))
    model = cfg.model
    model.backbone.update(embed_dims=8, depths=[2, 2, 2, 2], num_heads=[1, 1, 2, 2],
                          drop_path_rate=0.0, init_cfg=None)
    head = model.panoptic_head
    head.update(in_channels=[8, 16, 32, 64], feat_channels=32, out_channels=32, num_queries=20)
    encoder = head.pixel_decoder.encoder
    encoder.num_layers = 2
    encoder.layer_cfg.self_attn_cfg.update(embed_dims=32, num_heads=NUM_HEADS)
    encoder.layer_cfg.ffn_cfg.update(embed_dims=32, feedforward_channels=64)
    head.pixel_decoder.positional_encoding.num_feats = 16
    head.positional_encoding.num_feats = 16
    decoder = head.transformer_decoder
    decoder.num_layers = 4
    for attn in (decoder.layer_cfg.self_attn_cfg, decoder.layer_cfg.cross_attn_cfg):
        attn.update(embed_dims=32, num_heads=NUM_HEADS)
    decoder.layer_cfg.ffn_cfg.update(embed_dims=32, feedforward_channels=64)
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),  # uint8, as mmdet 2.x's test pipeline
        dict(type='Resize', scale=(1333, 800), keep_ratio=True),
        dict(type='PadLikeMMDet2', size_divisor=32, value=128),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'pad_shape',
                        'scale_factor')),
    ]
    return cfg


def to_mmdet2_layout(state_dict: dict) -> dict:
    """The documented mmdet 2.x names of the same weights (mmcv 1.x ``BaseTransformerLayer``):
    the pixel decoder's ``self_attn`` is ``attentions.0``; the decoder's operation order is
    (cross_attn, norm, self_attn, norm, ffn, norm), so ``cross_attn`` is ``attentions.0`` and
    ``self_attn`` is ``attentions.1``; ``ffn`` is ``ffns.0``."""
    renamed = {}
    for key, value in state_dict.items():
        if '.encoder.layers.' in key:
            key = key.replace('.self_attn.', '.attentions.0.')
        elif '.transformer_decoder.layers.' in key:
            key = key.replace('.cross_attn.', '.attentions.0.').replace('.self_attn.',
                                                                         '.attentions.1.')
        renamed[key.replace('.ffn.layers.', '.ffns.0.layers.') if 'panoptic_head' in key
                else key] = value
    return renamed


def draw(height: int, width: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 127 // (width + height)],
                    -1).astype(np.uint8)
    image = Image.fromarray(base)
    pen = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = rng.integers(0, width - 30), rng.integers(0, height - 30)
        box = [int(x0), int(y0), int(x0 + rng.integers(15, 30)), int(y0 + rng.integers(15, 30))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (pen.ellipse if rng.random() < 0.5 else pen.rectangle)(box, fill=colour)
    return image


def main() -> None:
    register_all_modules()
    torch.manual_seed(0)
    model = init_detector(tiny_config(), checkpoint=None, device='cpu')
    with torch.no_grad():  # random weights everywhere, norms and zero-initialised ones included
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
        model.panoptic_head.cls_embed.weight.mul_(10)  # class probabilities far from uniform
        # a constant mask-feature channel read with a negative weight: masks of a quarter of
        # the image rather than half, so that boxes differ from the whole image
        model.panoptic_head.pixel_decoder.mask_feature.bias[0] = 3.0
        model.panoptic_head.mask_embed[4].bias[0] -= 0.3
    state_dict = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = dict(mmdet_version=mmdet.__version__, config=CONFIG, num_heads=NUM_HEADS)
    torch.save(dict(meta=meta, state_dict=state_dict),
               osp.join(HERE, 'mask2former_tiny_mmdet3.pth'))
    torch.save(dict(meta=dict(meta, layout='mmdet 2.x'), state_dict=to_mmdet2_layout(state_dict)),
               osp.join(HERE, 'mask2former_tiny_mmdet2.pth'))
    outputs = {}
    for seed, (name, (height, width)) in enumerate(IMAGES.items()):
        path = osp.join(HERE, name)
        draw(height, width, seed).save(path)
        with torch.no_grad():
            result = inference_detector(model, path).pred_instances
        stem = osp.splitext(name)[0]
        outputs.update({f'{stem}/boxes': result.bboxes.numpy(),
                        f'{stem}/scores': result.scores.numpy(),
                        f'{stem}/labels': result.labels.numpy(),
                        f'{stem}/masks': result.masks.numpy()})
        print(name, 'instances', len(result.scores), 'non-empty masks',
              int(result.masks.flatten(1).any(1).sum()), 'max score',
              float(result.scores.max()))
    np.savez_compressed(osp.join(HERE, 'mmdet_detections.npz'), **outputs)


if __name__ == '__main__':
    main()
