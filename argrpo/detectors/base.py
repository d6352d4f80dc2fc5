"""The interface every instance detector follows (GenEval's object detector).

A detector takes decoded images (``[N, 3, H, W]`` in [-1, 1]) and returns, per image, its
instances in that image's pixel coordinates: boxes, scores, class indices into ``classes`` and
binary masks. It is frozen (no gradient, eval mode) and does its own preprocessing, so the same
detections come out whatever resolution the generator samples at.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from argrpo.utils import frozen


@dataclass
class Detections:
    """Instances of one image: ``boxes`` [K, 4] (x1, y1, x2, y2 in pixels), ``scores`` [K],
    ``labels`` [K] (indices into the detector's ``classes``), ``masks`` [K, H, W] bool."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    masks: Tensor

    def __len__(self) -> int:
        return len(self.scores)

    def of_class(self, label: int) -> 'Detections':
        """The instances of one class, highest score first."""
        keep = (self.labels == label).nonzero().flatten()
        keep = keep[self.scores[keep].argsort(descending=True, stable=True)]
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep], self.masks[keep])


class BaseDetector(nn.Module):
    """``classes``: the names of the detector's classes, in label order (COCO's 80 for GenEval)."""

    classes: Tuple[str, ...] = ()

    def detect(self, images: Tensor) -> List[Detections]:
        raise NotImplementedError

    def freeze(self) -> 'BaseDetector':
        """Call at the end of ``__init__``: ``utils.frozen`` on the whole detector."""
        return frozen(self)

    @torch.no_grad()
    def forward(self, images: Tensor) -> List[Detections]:
        return self.detect(images)

    def label_of(self, name: str) -> int:
        """The label of class ``name``; a clear error for a class the detector does not know."""
        try:
            return self.classes.index(name)
        except ValueError:
            raise KeyError(f'{type(self).__name__} does not detect {name!r}; its classes: '
                           f'{", ".join(self.classes)}') from None


def check_classes(classes: Sequence[str], needed: Sequence[str], what: str) -> None:
    """Fail early when ``what`` (a metadata file, a config) names classes the detector lacks."""
    missing = sorted(set(needed) - set(classes))
    if missing:
        raise KeyError(f'{what} names classes the detector does not know: {", ".join(missing)}')
