"""Mask2FormerDetector on a tiny random transformers Mask2Former written by save_pretrained."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from argrpo.detectors import Mask2FormerDetector
from argrpo.registry import DETECTORS

COCO_LIKE = {i: f'class {i}' for i in range(80)}


def save_tiny_mask2former(path, seed: int = 0, num_queries: int = 30) -> str:
    """A random Mask2Former with a tiny Swin backbone and 80 labels, saved with save_pretrained."""
    from transformers import (Mask2FormerConfig, Mask2FormerForUniversalSegmentation,
                              SwinConfig)
    swin = SwinConfig(embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=7,
                      drop_path_rate=0.0, out_features=['stage1', 'stage2', 'stage3', 'stage4'])
    config = Mask2FormerConfig(backbone_config=swin, feature_size=32, mask_feature_size=32,
                               hidden_dim=32, encoder_feedforward_dim=64, dim_feedforward=64,
                               encoder_layers=1, decoder_layers=3, num_attention_heads=2,
                               num_queries=num_queries, id2label=COCO_LIKE)
    torch.manual_seed(seed)
    model = Mask2FormerForUniversalSegmentation(config).eval()
    with torch.no_grad():  # spread the logits so that masks and classes vary
        model.class_predictor.weight.normal_(0, 1.0)
        head = model.model.transformer_module.decoder.mask_predictor.mask_embedder
        for name, weight in head.named_parameters():
            if name.endswith('weight'):
                weight.normal_(0, 0.5)
    model.save_pretrained(str(path))
    return str(path)


@pytest.fixture(scope='module')
def tiny_dir(tmp_path_factory):
    return save_tiny_mask2former(tmp_path_factory.mktemp('m2f') / 'tiny')


@pytest.fixture(scope='module')
def detector(tiny_dir):
    return DETECTORS.build(dict(type='Mask2FormerDetector', checkpoint=tiny_dir,
                                scale=(333, 200)))


def images(n=2, height=40, width=56, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, height, width, generator=generator) * 2 - 1


def test_shapes_classes_and_boxes(detector):
    assert detector.classes == tuple(COCO_LIKE.values())
    assert not any(p.requires_grad for p in detector.parameters())
    results = detector.detect(images())
    assert len(results) == 2
    for det in results:
        assert len(det) == 100  # the top 100 of 30 queries x 80 classes
        assert det.boxes.shape == (100, 4) and det.masks.shape == (100, 40, 56)
        assert det.masks.dtype == torch.bool and det.labels.max() < 80
        assert (det.scores[:-1] >= det.scores[1:]).all() and (det.scores >= 0).all()
        assert (det.boxes[:, 0] >= 0).all() and (det.boxes[:, 2] <= 56).all()
        assert (det.boxes[:, 1] >= 0).all() and (det.boxes[:, 3] <= 40).all()
        assert det.masks.any() and not det.masks.all()


def test_preprocess_resizes_normalises_and_pads(detector):
    batch, resized = detector.preprocess(images())
    assert resized == (200, 280)  # 40 x 56 times min(333 / 56, 200 / 40) = 5
    assert batch.shape == (2, 3, 224, 288)  # padded to multiples of 32
    grey = (128 - torch.tensor([123.675, 116.28, 103.53])) / torch.tensor([58.395, 57.12, 57.375])
    padding = torch.cat([batch[..., 200:, :].flatten(2), batch[..., 280:].flatten(2)], 2)
    assert (padding == grey.view(1, 3, 1)).all()  # mmdet 2.x pads with 128, then normalises
    pixels, _ = detector.preprocess(torch.zeros(1, 3, 8, 8))  # 0 -> 127.5 -> 128 (8 bits)
    torch.testing.assert_close(pixels[0, :, 0, 0], grey)


def reference_postprocess(class_logits, mask_logits, padded, resized, original, top=100):
    """mmdet's instance post-processing written out plainly, query by query."""
    probs = class_logits.softmax(-1)[:, :-1].numpy()
    pairs = sorted(((probs[q, c], q, c) for q in range(probs.shape[0])
                    for c in range(probs.shape[1])), reverse=True)[:top]
    found = []
    for prob, query, label in pairs:
        mask = F.interpolate(mask_logits[query][None, None], padded, mode='bilinear',
                             align_corners=False)[..., :resized[0], :resized[1]]
        mask = F.interpolate(mask, original, mode='bilinear', align_corners=False)[0, 0]
        binary = (mask > 0).numpy()
        inside = torch.sigmoid(mask).numpy()[binary]
        score = prob * (inside.sum() / (binary.sum() + 1e-6))
        ys, xs = np.nonzero(binary)
        box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, 0, 0]
        found.append((score, label, box, binary))
    return sorted(found, key=lambda item: -item[0])


def test_matches_independent_postprocessing(detector):
    pictures = images()
    batch, resized = detector.preprocess(pictures)
    with torch.no_grad():
        raw = detector.model(pixel_values=batch)
    results = detector.detect(pictures)
    for i, det in enumerate(results):
        expected = reference_postprocess(raw.class_queries_logits[i],
                                         raw.masks_queries_logits[i], tuple(batch.shape[-2:]),
                                         resized, (40, 56))
        scores = torch.tensor([e[0] for e in expected], dtype=torch.float32)
        torch.testing.assert_close(det.scores, scores, rtol=1e-5, atol=1e-6)
        assert det.labels.tolist() == [e[1] for e in expected]
        assert det.boxes.tolist() == [[float(v) for v in e[2]] for e in expected]
        assert (det.masks.numpy() == np.stack([e[3] for e in expected])).all()


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='convert_mmdet_mask2former'):
        Mask2FormerDetector(str(tmp_path / 'nowhere'))
