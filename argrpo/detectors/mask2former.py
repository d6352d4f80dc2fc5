"""Mask2Former instance detection (GenEval's detector) in transformers, without mmcv.

The model is transformers' ``Mask2FormerForUniversalSegmentation`` read from a local
``save_pretrained`` directory: a COCO instance model from the hub, or GenEval's official mmdet
checkpoint converted by ``tools/convert_mmdet_mask2former.py``. Pre- and post-processing follow
mmdet's Mask2Former test path, the one GenEval's evaluator runs, rather than transformers' image
processor, so that the converted official weights give mmdet's detections:

- the 8-bit image GenEval reads (its images are PNG files), resized keeping its aspect ratio to
  fit 1333 x 800 with OpenCV's bilinear resize (mmcv's backend: its fixed-point arithmetic
  differs from a float resize by one grey level here and there), normalised with ImageNet's mean
  and std in RGB after padding bottom-right to a multiple of 32 with grey 128 (mmdet 2.x's test
  pipeline pads before it normalises; 3.x's pads the normalised image with zeros);
- the 100 best (query, class) pairs of the softmax over classes (no-object dropped), each with its
  query's mask logits upsampled to the padded input, cropped to the resized image and resized to
  the input image; the mask is ``logit > 0`` (probability > 0.5); the score is the class
  probability times the mean mask probability inside the mask; the box bounds the mask.
"""
import os.path as osp
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from argrpo.registry import DETECTORS
from .base import BaseDetector, Detections


@DETECTORS.register_module()
class Mask2FormerDetector(BaseDetector):
    """GenEval's Mask2Former from a local transformers directory.

    Args:
        checkpoint: a directory written by ``save_pretrained`` (``config.json`` and weights).
        scale: (long, short) edge limits of mmdet's keep-ratio resize.
        size_divisor: the padded input's height and width are multiples of it.
        pad_value: the pixel value of the padding, before normalisation.
        mean, std: per-channel normalisation of 0-255 RGB pixels.
        max_per_image: how many (query, class) pairs are kept per image.
    """

    how_to_get = ('Convert GenEval\'s official mmdet checkpoint '
                  '(mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco) with '
                  '`python tools/convert_mmdet_mask2former.py CHECKPOINT OUT_DIR`, or save a '
                  'transformers Mask2Former COCO instance model there with `save_pretrained`; '
                  'see docs/advanced/mmdet_conversion.md.')

    def __init__(self,
                 checkpoint: str,
                 scale: Tuple[int, int] = (1333, 800),
                 size_divisor: int = 32,
                 pad_value: float = 128.,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 max_per_image: int = 100):
        super().__init__()
        if not osp.isfile(osp.join(checkpoint, 'config.json')):
            raise FileNotFoundError(
                f'Mask2FormerDetector: no config.json in {checkpoint!r}. {self.how_to_get}')
        from transformers import Mask2FormerForUniversalSegmentation
        self.model = Mask2FormerForUniversalSegmentation.from_pretrained(
            checkpoint, local_files_only=True)
        id2label = self.model.config.id2label
        self.classes = tuple(id2label[i] for i in range(len(id2label)))
        self.scale = (max(scale), min(scale))
        self.size_divisor = size_divisor
        self.pad_value = pad_value
        self.max_per_image = max_per_image
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def resized_size(self, height: int, width: int) -> Tuple[int, int]:
        """mmcv's ``imrescale`` size: the largest that fits ``scale`` keeping the ratio."""
        factor = min(self.scale[0] / max(height, width), self.scale[1] / min(height, width))
        return int(height * factor + 0.5), int(width * factor + 0.5)

    def preprocess(self, images: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """[-1, 1] images -> the normalised, padded batch and the resized (height, width)."""
        pixels = ((images.float() + 1) * 127.5).round().clamp(0, 255)
        size = self.resized_size(*images.shape[-2:])
        if size != tuple(images.shape[-2:]):
            pixels = torch.stack([resize_8bit(image, size) for image in pixels]).to(pixels)
        pad_h = -size[0] % self.size_divisor
        pad_w = -size[1] % self.size_divisor
        pixels = F.pad(pixels, (0, pad_w, 0, pad_h), value=self.pad_value)
        return (pixels - self.mean) / self.std, size

    def postprocess(self, class_logits: Tensor, mask_logits: Tensor, padded: Tuple[int, int],
                    resized: Tuple[int, int], original: Tuple[int, int]) -> Detections:
        """One image's instances from its query class logits [Q, C + 1] and mask logits
        [Q, h, w], as mmdet's ``MaskFormerFusionHead.instance_postprocess``."""
        scores = class_logits.float().softmax(-1)[:, :-1]
        num_classes = scores.shape[1]
        top = min(self.max_per_image, scores.numel())
        scores, index = scores.flatten().topk(top)
        labels = index % num_classes
        queries, inverse = (index // num_classes).unique(return_inverse=True)
        masks = F.interpolate(mask_logits[queries, None].float(), padded, mode='bilinear',
                              align_corners=False)
        masks = masks[..., :resized[0], :resized[1]]
        masks = F.interpolate(masks, original, mode='bilinear', align_corners=False)[:, 0]
        masks = masks[inverse]
        binary = masks > 0
        mask_scores = (masks.sigmoid() * binary).flatten(1).sum(1) / (
            binary.flatten(1).sum(1) + 1e-6)
        scores = scores * mask_scores
        order = scores.argsort(descending=True, stable=True)
        binary = binary[order]
        return Detections(boxes_of_masks(binary), scores[order], labels[order], binary)

    @torch.no_grad()
    def detect(self, images: Tensor) -> List[Detections]:
        inputs, resized = self.preprocess(images.to(self.mean.device))
        outputs = self.model(pixel_values=inputs.to(self.model.dtype))
        return [
            self.postprocess(classes, masks, tuple(inputs.shape[-2:]), resized,
                             tuple(images.shape[-2:]))
            for classes, masks in zip(outputs.class_queries_logits, outputs.masks_queries_logits)
        ]


def resize_8bit(image: Tensor, size: Tuple[int, int]) -> Tensor:
    """[3, H, W] 0-255 -> [3, *size], through uint8 and ``cv2.resize`` (bilinear) as mmcv does."""
    array = image.permute(1, 2, 0).to('cpu', torch.uint8).numpy()
    resized = cv2.resize(array, size[::-1], interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)


def boxes_of_masks(masks: Tensor) -> Tensor:
    """[K, H, W] bool -> [K, 4] (x1, y1, x2, y2): the first pixel row / column of each mask and
    one past its last (mmdet's ``mask2bbox``); zeros for an empty mask."""
    rows, cols = masks.any(2), masks.any(1)
    height, width = masks.shape[-2:]

    def extent(hits: Tensor, size: int) -> Tuple[Tensor, Tensor]:
        position = torch.arange(size, device=masks.device)
        first = torch.where(hits, position, size).amin(1)
        last = torch.where(hits, position + 1, 0).amax(1)
        return first, last

    x1, x2 = extent(cols, width)
    y1, y2 = extent(rows, height)
    boxes = torch.stack([x1, y1, x2, y2], 1).float()
    return torch.where(masks.flatten(1).any(1, keepdim=True), boxes, torch.zeros_like(boxes))
