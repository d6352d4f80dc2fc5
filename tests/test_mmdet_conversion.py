"""mmdet Mask2Former -> transformers, proven on the fixture that mmdet itself wrote.

tests/data/mask2former_mmdet/ holds a tiny random mmdet 3.3 Mask2Former (GenEval's Swin-S config,
shrunk), the same weights in mmdet 2.x's layout, three images and mmdet's detections on them
(make_fixture.py, README.md there). The converted model in Mask2FormerDetector must give mmdet's
masks, boxes, labels and scores. No mmdet needed here.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from argrpo.detectors import Mask2FormerDetector
from argrpo.detectors.mmdet_mask2former import (convert_mmdet_mask2former,
                                                load_mmdet_checkpoint, mmdet_layout,
                                                to_mmdet3_names)

DATA = osp.join(osp.dirname(__file__), 'data', 'mask2former_mmdet')
IMAGES = ('shapes_100x100', 'shapes_100x125', 'shapes_96x128')
NUM_HEADS = 2  # the fixture's config (make_fixture.py)


def read_image(stem):
    array = np.array(Image.open(osp.join(DATA, stem + '.png')).convert('RGB'))
    return torch.from_numpy(array).permute(2, 0, 1)[None].float() / 127.5 - 1


def mmdet_detections(stem):
    """mmdet's outputs, highest score first (mmdet's own top-k order is unsorted)."""
    saved = np.load(osp.join(DATA, 'mmdet_detections.npz'))
    order = np.argsort(-saved[f'{stem}/scores'], kind='stable')
    return {key: saved[f'{stem}/{key}'][order] for key in ('boxes', 'scores', 'labels', 'masks')}


def convert(name, tmp_path, state_dict=None):
    if state_dict is None:
        state_dict, meta = load_mmdet_checkpoint(osp.join(DATA, name))
        assert meta['num_heads'] == NUM_HEADS
    model = convert_mmdet_mask2former(state_dict, num_heads=NUM_HEADS)
    model.save_pretrained(str(tmp_path / 'converted'))
    return Mask2FormerDetector(str(tmp_path / 'converted'))


def assert_same_detections(detector):
    for stem in IMAGES:
        found = detector.detect(read_image(stem))[0]
        expected = mmdet_detections(stem)
        assert len(found) == len(expected['scores']) == 100
        np.testing.assert_allclose(found.scores.numpy(), expected['scores'], rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_array_equal(found.labels.numpy(), expected['labels'])
        np.testing.assert_array_equal(found.boxes.numpy(), expected['boxes'])
        np.testing.assert_array_equal(found.masks.numpy(), expected['masks'])


def test_fixture_is_informative():
    """A fixture of empty or full masks would prove little."""
    for stem in IMAGES:
        expected = mmdet_detections(stem)
        coverage = expected['masks'].mean((1, 2))
        assert 0.05 < coverage.mean() < 0.95 and coverage.std() > 0.05
        assert len(np.unique(expected['labels'])) > 10 and expected['scores'].max() > 0.3
        widths = expected['boxes'][:, 2] - expected['boxes'][:, 0]
        assert (widths < expected['masks'].shape[2]).any()


@pytest.mark.parametrize('name, layout', [('mask2former_tiny_mmdet3.pth', '3.x'),
                                          ('mask2former_tiny_mmdet2.pth', '2.x')])
def test_converted_model_gives_mmdet_detections(name, layout, tmp_path):
    state_dict, _ = load_mmdet_checkpoint(osp.join(DATA, name))
    assert mmdet_layout(state_dict) == layout
    detector = convert(name, tmp_path)
    assert detector.classes[0] == 'person' and len(detector.classes) == 80
    assert_same_detections(detector)


def test_both_layouts_name_the_same_weights():
    mmdet2, _ = load_mmdet_checkpoint(osp.join(DATA, 'mask2former_tiny_mmdet2.pth'))
    mmdet3, _ = load_mmdet_checkpoint(osp.join(DATA, 'mask2former_tiny_mmdet3.pth'))
    assert any('.attentions.1.' in key for key in mmdet2)
    renamed = to_mmdet3_names(mmdet2)
    assert renamed.keys() == mmdet3.keys()
    assert all(torch.equal(renamed[key], mmdet3[key]) for key in mmdet3)


def swap_decoder_attentions(state_dict):
    """The mistake of reading 2.x's attentions.0 as self attention."""
    swapped = {}
    for key, value in state_dict.items():
        if '.transformer_decoder.layers.' in key:
            key = key.replace('.cross_attn.', '.@.').replace('.self_attn.', '.cross_attn.')
            key = key.replace('.@.', '.self_attn.')
        swapped[key] = value
    return swapped


def test_a_wrong_mapping_fails(tmp_path):
    state_dict, _ = load_mmdet_checkpoint(osp.join(DATA, 'mask2former_tiny_mmdet3.pth'))
    detector = convert(None, tmp_path, swap_decoder_attentions(state_dict))
    with pytest.raises(AssertionError):
        assert_same_detections(detector)


def test_incomplete_or_foreign_state_dicts_are_refused():
    state_dict, _ = load_mmdet_checkpoint(osp.join(DATA, 'mask2former_tiny_mmdet3.pth'))
    with pytest.raises(KeyError, match='not an mmdet Mask2Former'):
        convert_mmdet_mask2former({'backbone.conv1.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='num_heads'):
        convert_mmdet_mask2former(state_dict, num_heads=8)
    partial = {k: v for k, v in state_dict.items() if 'norms.2' not in k}
    with pytest.raises(KeyError):
        convert_mmdet_mask2former(partial, num_heads=NUM_HEADS)
    extra = dict(state_dict, **{'panoptic_head.extra.weight': torch.zeros(1)})
    with pytest.raises(KeyError, match='did not use'):
        convert_mmdet_mask2former(extra, num_heads=NUM_HEADS)


def test_tool_writes_a_detector_directory(tmp_path, capsys):
    import importlib.util
    path = osp.join(osp.dirname(osp.dirname(__file__)), 'tools', 'convert_mmdet_mask2former.py')
    spec = importlib.util.spec_from_file_location('convert_tool', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([osp.join(DATA, 'mask2former_tiny_mmdet2.pth'), str(tmp_path / 'out'),
               '--num-heads', '2'])
    assert 'mmdet 2.x layout' in capsys.readouterr().out
    assert len(Mask2FormerDetector(str(tmp_path / 'out')).classes) == 80
