"""GenEval's rules on hand-made detections: each task, each threshold edge, the 16-object cap,
the position margin, the colour of the right object; the CLIP colour classifier against a hand
computation with a tiny open_clip model."""
import json

import pytest
import torch
import torch.nn.functional as F
from argrpo_testing import save_tiny_open_clip

from argrpo.detectors import Detections
from argrpo.evaluation.geneval import (CLIPColourClassifier, GenEvalRules, box_iou, check_metadata_classes, judge,
                                       relative_position)

CLASSES = ('person', 'dog', 'bus', 'mouse', 'couch', 'bird')  # 'mouse': COCO's name of GenEval's 'computer mouse'
SIZE = 64


def detections(*objects):
    """Detections of (class, score, box) triples; each mask fills its box."""
    masks = torch.zeros(len(objects), SIZE, SIZE, dtype=torch.bool)
    for mask, (_, _, (x1, y1, x2, y2)) in zip(masks, objects):
        mask[int(y1):int(y2), int(x1):int(x2)] = True
    return Detections(torch.tensor([o[2] for o in objects], dtype=torch.float32).view(-1, 4),
                      torch.tensor([o[1] for o in objects], dtype=torch.float32),
                      torch.tensor([CLASSES.index(o[0]) for o in objects], dtype=torch.long), masks)


class ColoursByBox:
    """A stand-in colour classifier: the colour it was told for each box's left edge; records what it saw."""

    def __init__(self, colours):
        self.colours, self.calls = colours, []

    def __call__(self, image, boxes, masks, name):
        self.calls.append((name, boxes.tolist(), masks.clone()))
        return [self.colours[int(box[0])] for box in boxes.tolist()]


def record(tag, *include, exclude=()):
    return dict(tag=tag, prompt='p', include=list(include), exclude=list(exclude))


def run(meta, *objects, colours=None, **rules):
    image = torch.zeros(3, SIZE, SIZE)
    return judge(image, detections(*objects), CLASSES, meta, colours, GenEvalRules(**rules))


DOG = dict(**{'class': 'dog', 'count': 1})
BOX = (10, 10, 30, 30)


@pytest.mark.parametrize('score, kept', [(0.3, False), (0.29, False), (0.31, True), (0.3001, True)])
def test_single_object_counts_scores_above_0_3(score, kept):
    verdict = run(record('single_object', DOG), ('dog', score, BOX))
    assert verdict.correct is kept and verdict.fraction == float(kept)
    assert (verdict.reason == '') is kept and ('dog' in verdict.reason) is not kept
    assert json.loads(json.dumps(verdict.details)) == ({'dog': [[10.0, 10.0, 30.0, 30.0, pytest.approx(score)]]}
                                                      if kept else {})


def test_two_objects_need_both_and_partial_credit_is_the_fraction():
    meta = record('two_object', DOG, {'class': 'person', 'count': 1})
    both = run(meta, ('dog', 0.8, BOX), ('person', 0.5, (40, 40, 60, 60)))
    assert both.correct and both.fraction == 1.0
    one = run(meta, ('dog', 0.8, BOX), ('person', 0.2, (40, 40, 60, 60)))
    assert not one.correct and one.fraction == 0.5 and one.reason.startswith('person')
    assert not run(meta).correct and run(meta).fraction == 0.0


THREE_BUSES = record('counting', {'class': 'bus', 'count': 3}, exclude=[{'class': 'bus', 'count': 4}])


def buses(*scores):
    return [('bus', s, (4 * i, 0, 4 * i + 3, 3)) for i, s in enumerate(scores)]


@pytest.mark.parametrize('scores, correct, fraction', [
    ((0.95, 0.95, 0.95), True, 1.0),  # exactly the count
    ((0.95, 0.95, 0.95, 0.95), False, 0.5),  # one more: the exclude clause fails
    ((0.95, 0.95), False, 0.5),  # one fewer: the include clause fails
    ((0.95, 0.95, 0.95, 0.9), True, 1.0),  # 0.9 is not above the counting threshold
    ((0.95, 0.95, 0.95, 0.89), True, 1.0),
    ((0.95, 0.95, 0.95, 0.901), False, 0.5),  # just above it: four buses
    ((0.95, 0.95, 0.9), False, 0.5),
    ((0.95, 0.95, 0.91), True, 1.0),
])
def test_counting_uses_0_9_and_the_exclude_clause(scores, correct, fraction):
    verdict = run(THREE_BUSES, *buses(*scores))
    assert verdict.correct is correct and verdict.fraction == fraction


def test_other_tasks_keep_the_0_3_threshold_and_counting_its_own():
    meta = dict(THREE_BUSES, tag='two_object')  # the same clauses under another task
    assert not run(meta, *buses(0.95, 0.95, 0.95, 0.5)).correct  # 0.5 counts outside counting
    assert run(THREE_BUSES, *buses(0.95, 0.95, 0.95, 0.5)).correct


def test_at_most_16_objects_of_a_class_are_kept_best_first():
    meta = record('counting', {'class': 'person', 'count': 16}, exclude=[{'class': 'person', 'count': 17}])
    scores = [0.91 + 0.004 * i for i in range(20)]  # 20 people above 0.9, in rising order
    people = [('person', s, (3 * i, 0, 3 * i + 2, 2)) for i, s in enumerate(scores)]
    verdict = run(meta, *people)
    assert verdict.correct  # 20 found, 16 kept: the exclude clause (17 or more) holds
    kept = verdict.details['person']
    assert [round(box[4], 3) for box in kept] == [round(s, 3) for s in sorted(scores, reverse=True)[:16]]
    assert not run(meta, *people, max_objects=17).correct  # the cap is what made it pass


def test_overlapping_instances_are_kept_unless_max_overlap_is_set():
    assert box_iou(torch.tensor([[0., 0, 9, 9]]), torch.tensor([[5., 0, 14, 9]])).item() == pytest.approx(50 / 150)
    meta = record('counting', {'class': 'dog', 'count': 2})
    pair = [('dog', 0.95, (0, 0, 9, 9)), ('dog', 0.92, (0, 0, 9, 4))]  # IoU (inclusive pixels) 50 / 100
    assert run(meta, *pair).correct  # the official default keeps both
    assert run(meta, *pair, max_overlap=0.51).correct
    assert not run(meta, *pair, max_overlap=0.5).correct  # IoU 0.5 is not below 0.5: suppressed


@pytest.mark.parametrize('dx, dy, relations', [
    (2.0, 0.0, set()),  # within the margin 0.1 x (10 + 10)
    (4.0, 0.0, set()),  # shrunk offset 2 over 4: exactly half, not more
    (4.1, 0.0, {'right of'}),
    (-4.1, 0.0, {'left of'}),
    (0.0, 4.1, {'below'}),  # image y grows downwards
    (0.0, -4.1, {'above'}),
    (8.0, 8.0, {'right of', 'below'}),  # (6, 6) / 11.31: both above half
    (8.0, 6.0, {'right of'}),  # (6, 4) / 10
])
def test_relative_position_from_centres_with_the_margin(dx, dy, relations):
    target = torch.tensor([0., 0, 10, 10])
    assert relative_position(target + torch.tensor([dx, dy, dx, dy]), target, 0.1) == relations


def test_relative_position_margin_scales_with_both_boxes():
    small, large = torch.tensor([0., 0, 4, 4]), torch.tensor([10., 0, 46, 4])  # widths 4 and 36, centres 2 and 28
    assert relative_position(large, small, 0.1) == {'right of'}  # (26 - 4) / 26 > 0.5
    assert relative_position(large, small, 0.34) == set()  # 26 - 0.34 * 40 = 12.4, 12.4 / 26 < 0.5


BIRD_LEFT_OF_COUCH = record('position', {'class': 'couch', 'count': 1},
                            {'class': 'bird', 'count': 1, 'position': ['left of', 0]})


def test_position_task():
    couch = ('couch', 0.9, (30, 20, 50, 40))
    assert run(BIRD_LEFT_OF_COUCH, couch, ('bird', 0.9, (0, 20, 20, 40))).correct  # centres 30 apart, margin 4
    right = run(BIRD_LEFT_OF_COUCH, couch, ('bird', 0.9, (52, 20, 60, 40)))
    assert not right.correct and right.fraction == pytest.approx(2 / 3) and 'right of' in right.reason
    # the margin edge: bird [x, 20, x + 20, 40] against couch centre 40: offset x - 30, margin 4;
    # left of when (30 - x - 4) / (30 - x) > 0.5, i.e. x < 22
    assert not run(BIRD_LEFT_OF_COUCH, couch, ('bird', 0.9, (22, 20, 42, 40))).correct
    assert run(BIRD_LEFT_OF_COUCH, couch, ('bird', 0.9, (21.9, 20, 41.9, 40))).correct
    no_target = run(BIRD_LEFT_OF_COUCH, ('bird', 0.9, (0, 20, 20, 40)))
    assert not no_target.correct and no_target.fraction == pytest.approx(1 / 3)  # the bird is there, nothing else
    # only the best bird is judged: a worse one on the wrong side does not matter
    assert run(BIRD_LEFT_OF_COUCH, couch, ('bird', 0.9, (0, 20, 20, 40)), ('bird', 0.5, (52, 20, 60, 40))).correct
    assert not run(BIRD_LEFT_OF_COUCH, couch, ('bird', 0.5, (0, 20, 20, 40)), ('bird', 0.9, (52, 20, 60, 40))).correct


def test_position_against_every_target_object():
    meta = record('position', {'class': 'couch', 'count': 2}, {'class': 'bird', 'count': 1, 'position': ['left of', 0]})
    bird = ('bird', 0.9, (0, 20, 10, 30))
    assert run(meta, bird, ('couch', 0.9, (30, 20, 40, 30)), ('couch', 0.8, (50, 20, 60, 30))).correct
    assert not run(meta, bird, ('couch', 0.9, (30, 20, 40, 30)), ('couch', 0.8, (0, 40, 10, 50))).correct


def test_colour_of_the_best_object_only():
    meta = record('colors', {'class': 'dog', 'count': 1, 'color': 'red'})
    colours = ColoursByBox({10: 'red', 40: 'blue'})
    red_best = run(meta, ('dog', 0.9, BOX), ('dog', 0.6, (40, 40, 60, 60)), colours=colours)
    assert red_best.correct and red_best.fraction == 1.0
    name, boxes, masks = colours.calls[-1]
    assert name == 'dog' and boxes == [[10, 10, 30, 30]]  # only the best dog, with its own mask
    assert masks.shape == (1, SIZE, SIZE) and masks[0, 10:30, 10:30].all() and masks.sum() == 400
    blue_best = run(meta, ('dog', 0.6, BOX), ('dog', 0.9, (40, 40, 60, 60)), colours=colours)
    assert not blue_best.correct and blue_best.fraction == 0.5 and 'red' in blue_best.reason
    missing = run(meta, colours=ColoursByBox({}))
    assert not missing.correct and missing.fraction == 0.0  # the colour is not judged without the dog


def test_colour_attribution_counts_each_requirement():
    meta = record('color_attr', {'class': 'dog', 'count': 1, 'color': 'white'},
                  {'class': 'person', 'count': 1, 'color': 'blue'})
    objects = [('dog', 0.9, BOX), ('person', 0.9, (40, 40, 60, 60))]
    assert run(meta, *objects, colours=ColoursByBox({10: 'white', 40: 'blue'})).correct
    swapped = run(meta, *objects, colours=ColoursByBox({10: 'blue', 40: 'white'}))
    assert not swapped.correct and swapped.fraction == 0.5
    one = run(meta, *objects, colours=ColoursByBox({10: 'white', 40: 'white'}))
    assert not one.correct and one.fraction == 0.75
    with pytest.raises(ValueError, match='colour classifier'):
        run(meta, *objects)


def test_geneval_names_of_coco_classes():
    meta = record('single_object', {'class': 'computer mouse', 'count': 1})
    verdict = run(meta, ('mouse', 0.5, BOX))
    assert verdict.correct and list(verdict.details) == ['computer mouse']
    check_metadata_classes(CLASSES, [meta], 'test metadata')
    with pytest.raises(KeyError, match='zebra'):
        check_metadata_classes(CLASSES, [record('single_object', {'class': 'zebra', 'count': 1})], 'test metadata')


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    return save_tiny_open_clip(tmp_path_factory.mktemp('clip_configs'), 'GenEvalCLIP-Tiny')


def test_clip_colour_classifier_scores_the_masked_crop(tiny_clip):
    import open_clip
    arch, path, clip = tiny_clip
    classifier = CLIPColourClassifier(arch, path)
    torch.manual_seed(1)
    image = torch.rand(3, 48, 64) * 2 - 1
    boxes = torch.tensor([[8.4, 4.6, 40.2, 20.5], [30., 10, 62, 46]])
    masks = torch.zeros(2, 48, 64, dtype=torch.bool)
    masks[0, 6:18, 10:30] = True
    masks[1, 12:40, 35:60] = True
    # by hand: grey 153 outside the mask, box rounded to (8, 5, 40, 20) / (30, 10, 62, 46), the
    # shorter side resized to 32, the centre kept, CLIP's normalisation
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(3, 1, 1)
    expected_crops = []
    for (x1, y1, x2, y2), mask, size in zip([(8, 5, 40, 20), (30, 10, 62, 46)], masks, [(32, 68), (36, 32)]):
        pasted = torch.where(mask, image, torch.full_like(image, 153 / 127.5 - 1))[:, y1:y2, x1:x2]
        x = F.interpolate((pasted[None] + 1) / 2, size=size, mode='bicubic', align_corners=False).clamp(0, 1)[0]
        top, left = (x.shape[1] - 32) // 2, (x.shape[2] - 32) // 2
        expected_crops.append((x[:, top:top + 32, left:left + 32] - mean) / std)
    expected_crops = torch.stack(expected_crops)
    torch.testing.assert_close(classifier.crops(image, boxes, masks), expected_crops, atol=1e-5, rtol=1e-5)
    tokenizer = open_clip.get_tokenizer(arch)
    with torch.no_grad():
        image_features = F.normalize(clip.encode_image(expected_crops), dim=-1)
        colours = ('red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'brown', 'black', 'white')
        per_colour = []
        for c in colours:
            texts = [f'a photo of a {c} dog', f'a photo of a {c}-colored dog', f'a photo of a {c} object']
            per_colour.append(F.normalize(F.normalize(clip.encode_text(tokenizer(texts)), dim=-1).mean(0), dim=0))
        expected = [colours[i] for i in (image_features @ torch.stack(per_colour).T).argmax(-1).tolist()]
    assert classifier(image, boxes, masks, 'dog') == expected
    torch.testing.assert_close(classifier.text_classifier('dog'), torch.stack(per_colour).T, atol=1e-5, rtol=1e-5)
    assert classifier(image, boxes[:0], masks[:0], 'dog') == []


def test_clip_colour_classifier_names_the_missing_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match='ViT-L-14.*open_clip'):
        CLIPColourClassifier(checkpoint=None)
    with pytest.raises(FileNotFoundError, match='absent.bin'):
        CLIPColourClassifier(checkpoint=str(tmp_path / 'absent.bin'))
