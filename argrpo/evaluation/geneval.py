"""GenEval's rules (Ghosh et al., 2023), once, for the metric and the reward.

An image passes when every requirement of its prompt's metadata holds on the detector's
instances: each ``include`` clause asks for at least ``count`` objects of a class (and, if given,
that many of them of one colour, or all of them at a position relative to the objects of an
earlier clause); each ``exclude`` clause asks for fewer than ``count``. The settings are the
official evaluator's (``djghosh13/geneval``, ``evaluation/evaluate_images.py``):

- an instance counts when its score is above 0.3 (above 0.9 for the counting task); at most the
  16 best of a class are kept; overlapping instances are kept too (``max_overlap`` 1.0: off);
- colour and position are judged on the ``count`` best instances of a class only;
- colour: zero-shot CLIP ViT-L/14 over ten colours on the instance's mask pasted on grey
  (#999) and cropped to its box;
- position: from box centres, each offset shrunk by 0.1 of the two boxes' summed sides; a
  relation holds when its axis carries more than half of the offset's length.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from argrpo.datasets.geneval import metadata_by_prompt
from argrpo.detectors import Detections, check_classes
from argrpo.registry import DETECTORS
from argrpo.utils import frozen, load_open_clip, open_clip_input, prepare_images, quantize

GENEVAL_COLORS = ('red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'brown', 'black', 'white')
# GenEval's object_names.txt renames three COCO classes; a detector may use either name
COCO_NAMES = {'computer mouse': 'mouse', 'tv remote': 'remote', 'computer keyboard': 'keyboard'}
GENEVAL_NAMES = {coco: geneval for geneval, coco in COCO_NAMES.items()}

# colour_classifier(image [3, H, W] in [-1, 1], boxes [K, 4], masks [K, H, W], class name) -> K colours
ColourClassifier = Callable[[Tensor, Tensor, Tensor, str], List[str]]


@dataclass(frozen=True)
class GenEvalRules:
    """The evaluator's settings; the defaults are the official ones."""

    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0
    position_margin: float = 0.1


@dataclass
class Verdict:
    """One image judged: ``correct`` when every requirement holds, ``fraction`` of those that
    hold, ``reason`` (one line per failed requirement) and ``details`` (the kept instances,
    ``{class: [[x1, y1, x2, y2, score], ...]}``, as the official results file has them)."""

    correct: bool
    fraction: float
    reason: str
    details: Dict[str, List[List[float]]] = field(default_factory=dict)


def check_metadata_classes(classes: Sequence[str], records: Sequence[dict], what: str) -> None:
    """Fail early when metadata ``what`` names classes the detector does not detect."""
    names = {o['class'] for r in records for o in r['include'] + r.get('exclude', [])}
    check_classes(classes, [n if n in classes else COCO_NAMES.get(n, n) for n in names], what)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU [A, B] of pixel boxes counted inclusively (a box from x1 to x2 spans x2 - x1 + 1
    pixels), the convention of GenEval's overlap test."""
    lt, rb = torch.max(a[:, None, :2], b[None, :, :2]), torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt + 1).clamp(min=0).prod(-1)
    area = lambda x: (x[:, 2:] - x[:, :2] + 1).clamp(min=0).prod(-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def kept_instances(detections: Detections, label: int, threshold: float, rules: GenEvalRules) -> Detections:
    """The instances of class ``label`` that GenEval counts, best first: score above
    ``threshold``, the ``max_objects`` best, and, when ``max_overlap`` < 1, none overlapping a
    better kept one by that IoU or more."""
    found = detections.of_class(label)
    keep = (found.scores > threshold).nonzero().flatten()[:rules.max_objects]
    if rules.max_overlap < 1 and len(keep) > 1:
        iou = box_iou(found.boxes[keep].double(), found.boxes[keep].double())
        chosen: List[int] = []
        for i in range(len(keep)):
            if all(iou[i, j] < rules.max_overlap for j in chosen):
                chosen.append(i)
        keep = keep[chosen]
    return Detections(found.boxes[keep], found.scores[keep], found.labels[keep], found.masks[keep])


def relative_position(box: Tensor, target: Tensor, margin: float) -> Set[str]:
    """Where ``box`` lies relative to ``target`` ('left of', 'right of', 'above', 'below'; a set,
    empty when the centres are within the margin of each other)."""
    box, target = box.double(), target.double()
    offset = (box[:2] + box[2:]) / 2 - (target[:2] + target[2:]) / 2
    sides = (box[2:] - box[:2]).abs() + (target[2:] - target[:2]).abs()
    shrunk = (offset.abs() - margin * sides).clamp(min=0) * offset.sign()
    if bool((shrunk.abs() < 1e-3).all()):
        return set()
    dx, dy = (shrunk / offset.norm()).tolist()
    relations = {'left of': dx < -0.5, 'right of': dx > 0.5, 'above': dy < -0.5, 'below': dy > 0.5}
    return {name for name, holds in relations.items() if holds}


def judge(image: Tensor, detections: Detections, classes: Sequence[str], metadata: dict,
          colour_classifier: Optional[ColourClassifier], rules: GenEvalRules = GenEvalRules()) -> Verdict:
    """Judge one image (``[3, H, W]`` in [-1, 1]) and its detections against one metadata record.

    Every clause of ``include`` gives one requirement for its count, one for its colour and one
    for its position (each failing when an earlier part of the clause failed, or when the
    position's target clause failed); every clause of ``exclude`` gives one."""
    threshold = rules.counting_threshold if metadata['tag'] == 'counting' else rules.threshold
    kept = {}
    for label in detections.labels.unique().tolist():
        objects = kept_instances(detections, label, threshold, rules)
        if len(objects):
            name = classes[label]
            kept[GENEVAL_NAMES.get(name, name)] = objects
    empty = Detections(*(t[:0] for t in (detections.boxes, detections.scores, detections.labels,
                                            detections.masks)))
    outcomes: List[Tuple[bool, str]] = []  # (holds, why not)
    groups: List[Optional[Detections]] = []  # each include clause's objects, None if it failed
    for clause in metadata['include']:
        name, count = clause['class'], clause['count']
        found = kept.get(name, empty)
        best = Detections(found.boxes[:count], found.scores[:count], found.labels[:count], found.masks[:count])
        matched = len(found) >= count
        outcomes.append((matched, f'{name}: {len(found)} found, at least {count} wanted'))
        if 'color' in clause:
            colour = clause['color']
            if matched:
                if colour_classifier is None:
                    raise ValueError(f'{metadata["prompt"]!r} asks for a colour: give a colour classifier')
                seen = colour_classifier(image, best.boxes, best.masks, name)
                matched = seen.count(colour) >= count
                why = f'{name}: {seen.count(colour)} of {count} {colour} (seen: {", ".join(seen)})'
            else:
                why = f'{name}: colour {colour} not judged, too few found'
            outcomes.append((matched, why))
        if 'position' in clause:
            relation, target_index = clause['position'][0], int(clause['position'][1])
            targets = groups[target_index]
            if not matched:
                why = f'{name}: position {relation!r} not judged, the clause already failed'
            elif targets is None:
                matched, why = False, f'{name}: no target to be {relation}'
            else:
                pairs = [relative_position(box, target, rules.position_margin)
                         for box in best.boxes for target in targets.boxes]
                wrong = next((seen for seen in pairs if relation not in seen), None)
                matched = wrong is None
                seen = ' and '.join(sorted(wrong or ())) or 'no relation'
                why = f'{name}: wanted {relation} its target, found {seen}'
            outcomes.append((matched, why))
        groups.append(best if matched else None)
    for clause in metadata.get('exclude', []):
        name, count = clause['class'], clause['count']
        found = len(kept.get(name, empty))
        outcomes.append((found < count, f'{name}: {found} found, fewer than {count} wanted'))
    held = sum(holds for holds, _ in outcomes)
    details = {name: [box + [score] for box, score in zip(objects.boxes.tolist(), objects.scores.tolist())]
               for name, objects in kept.items()}
    return Verdict(held == len(outcomes), held / len(outcomes),
                   '\n'.join(why for holds, why in outcomes if not holds), details)


class CLIPColourClassifier(nn.Module):
    """GenEval's colour judge: the instance's mask pasted on a grey background, cropped to its
    box (rounded to pixels), scored by an open_clip model against each colour's text embedding
    (the mean of three unit-norm prompts, normalised). Text embeddings are cached per class.

    Args:
        arch: open_clip architecture (GenEval: OpenAI's ViT-L/14, 'ViT-L-14-quickgelu' in open_clip:
            OpenAI's weights were trained with QuickGELU).
        checkpoint: a local file of its weights.
        colours: the classes of the zero-shot classifier.
        background: the grey level (0-255) outside the mask (GenEval: #999, 153).
    """

    how_to_get = ("GenEval uses OpenAI's CLIP ViT-L/14: save open_clip's 'ViT-L-14-quickgelu' 'openai' weights (the "
                  'open_clip_pytorch_model.bin of timm/vit_large_patch14_clip_224.openai) to a local file.')
    templates = ('a photo of a {colour} {name}', 'a photo of a {colour}-colored {name}', 'a photo of a {colour} object')

    def __init__(self, arch: str = 'ViT-L-14-quickgelu', checkpoint: Optional[str] = None,
                 colours: Sequence[str] = GENEVAL_COLORS, background: int = 153):
        super().__init__()
        import open_clip
        self.model = load_open_clip(arch, checkpoint, type(self).__name__, self.how_to_get)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.image_size, self.mean, self.std = open_clip_input(self.model)
        self.colours, self.background = tuple(colours), background / 127.5 - 1
        self.text_classifiers: Dict[str, Tensor] = {}
        frozen(self)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def text_classifier(self, name: str) -> Tensor:
        """[D, colours]: each colour's text embedding for objects of class ``name``."""
        if name not in self.text_classifiers:
            texts = [t.format(colour=c, name=name) for c in self.colours for t in self.templates]
            features = F.normalize(self.model.encode_text(self.tokenizer(texts).to(self.device)).float(), dim=-1)
            per_colour = F.normalize(features.view(len(self.colours), len(self.templates), -1).mean(1), dim=-1)
            self.text_classifiers[name] = per_colour.T
        return self.text_classifiers[name].to(self.device)

    def crops(self, image: Tensor, boxes: Tensor, masks: Tensor) -> Tensor:
        """[K, 3, S, S]: each instance on the background, cropped to its box, CLIP-preprocessed."""
        height, width = image.shape[-2:]
        out = []
        for box, mask in zip(boxes.round().long().tolist(), masks):
            x1, y1 = min(max(box[0], 0), width - 1), min(max(box[1], 0), height - 1)
            x2, y2 = max(min(box[2], width), x1 + 1), max(min(box[3], height), y1 + 1)
            pasted = torch.where(mask.to(image.device), image, torch.full_like(image, self.background))
            out.append(prepare_images(pasted[None, :, y1:y2, x1:x2], self.image_size, self.mean, self.std))
        return torch.cat(out)

    @torch.no_grad()
    def forward(self, image: Tensor, boxes: Tensor, masks: Tensor, name: str) -> List[str]:
        if len(boxes) == 0:
            return []
        pixels = self.crops(image.to(self.device).float(), boxes, masks)
        features = F.normalize(self.model.encode_image(pixels).float(), dim=-1)
        return [self.colours[i] for i in (features @ self.text_classifier(name)).argmax(-1).tolist()]


class GenEvalJudge(nn.Module):
    """Detector, colour classifier and rules of GenEval, with its metadata looked up by prompt:
    what ``GenEvalMetric`` and ``GenEvalReward`` share. Images are judged as their saved PNG
    would be (``utils.quantize``).

    Args:
        metadata: GenEval's ``evaluation_metadata.jsonl`` (or a file in its format).
        detector: a DETECTORS config (e.g. ``Mask2FormerDetector``).
        colour_classifier: the arguments of ``CLIPColourClassifier``, or a classifier object
            (any callable of that signature); None only when no prompt asks for a colour.
        rules: ``GenEvalRules`` arguments, to change the official settings.
    """

    def __init__(self, metadata: str, detector: dict,
                 colour_classifier: Union[dict, ColourClassifier, None] = None, rules: Optional[dict] = None):
        super().__init__()
        self.metadata_file = metadata
        self.metadata = metadata_by_prompt(metadata)
        self.detector = DETECTORS.build(detector) if isinstance(detector, dict) else detector
        check_metadata_classes(self.detector.classes, list(self.metadata.values()), metadata)
        if isinstance(colour_classifier, dict):
            colour_classifier = CLIPColourClassifier(**colour_classifier)
        if colour_classifier is None and any('color' in o for r in self.metadata.values() for o in r['include']):
            raise ValueError(f'{metadata} has colour requirements: give colour_classifier '
                             "(e.g. dict(arch='ViT-L-14-quickgelu', checkpoint=...))")
        self.colour_classifier = colour_classifier
        self.rules = GenEvalRules(**(rules or {}))
        frozen(self)

    def requirements(self, prompt: str) -> dict:
        """The metadata record of ``prompt``; a clear error for a prompt GenEval does not have."""
        try:
            return self.metadata[prompt]
        except KeyError:
            raise KeyError(f'prompt {prompt!r} is not in the GenEval metadata {self.metadata_file}: GenEval judges '
                           'only the prompts of its metadata file') from None

    @torch.no_grad()
    def forward(self, images: Tensor, prompts: Sequence[str]) -> List[Verdict]:
        records = [self.requirements(p) for p in prompts]
        images = quantize(images)
        detections = self.detector(images)
        return [judge(image, found, self.detector.classes, record, self.colour_classifier, self.rules)
                for image, found, record in zip(images, detections, records)]

