"""The objects of the shapes world and how they are drawn.

An object is a dict with ``shape``, ``color`` and ``size`` (words of the vocabulary below) and
its centre ``cx``, ``cy`` (fractions of the image side). Class-to-image scenes hold one object,
text-to-image scenes two, listed top to bottom.
"""
from typing import Dict, List, Tuple

import numpy as np

SHAPES = ('circle', 'square', 'triangle')
COLORS = {'red': (220, 50, 47), 'green': (60, 170, 60), 'blue': (38, 100, 230), 'yellow': (235, 200, 40)}
SIZES = {'small': 0.2, 'large': 0.3}  # half-extent, as a fraction of the image side


def class_names() -> List[str]:
    """The 12 classes of class-to-image, colour x shape, in class-id order ('red circle', ...)."""
    return [f'{color} {shape}' for color in COLORS for shape in SHAPES]


def class_id(obj: Dict) -> int:
    return list(COLORS).index(obj['color']) * len(SHAPES) + SHAPES.index(obj['shape'])


def attributes(objects: List[Dict]) -> List[int]:
    """(colour, shape) indices of the top and the bottom object, -1 where there is none: the
    targets of attribute judges (the same length for every scene, so that modes can be mixed)."""
    values = [i for o in objects for i in (list(COLORS).index(o['color']), SHAPES.index(o['shape']))]
    return values + [-1] * (4 - len(values))


def draw(canvas: np.ndarray, shape: str, color: Tuple[int, int, int], cx: float, cy: float, r: float) -> None:
    """Paint one shape (centre and half-extent in pixels) onto an HWC uint8 canvas."""
    h, w = canvas.shape[:2]
    y, x = np.mgrid[0:h, 0:w] + 0.5
    if shape == 'circle':
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= r ** 2
    elif shape == 'square':
        inside = (np.abs(x - cx) <= 0.85 * r) & (np.abs(y - cy) <= 0.85 * r)
    else:  # an upward triangle
        top, bottom = cy - r, cy + 0.8 * r
        inside = (y >= top) & (y <= bottom) & (np.abs(x - cx) <= (y - top) * 0.62)
    canvas[inside] = color


def render(objects: List[Dict], size: int, background: int) -> np.ndarray:
    """The objects on a grey background, uint8 HWC of side ``size``."""
    canvas = np.full((size, size, 3), background, dtype=np.uint8)
    for obj in objects:
        draw(canvas, obj['shape'], COLORS[obj['color']], obj['cx'] * size, obj['cy'] * size,
             SIZES[obj['size']] * size)
    return canvas
