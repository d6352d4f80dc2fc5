"""The caption grammar of the shapes world, in one place: the scene sampler writes captions
with ``describe`` and the attribute judge reads them back with ``parse``.

    caption  := phrase | phrase relation phrase
    phrase   := 'a' size colour shape              ('a small red circle')
    relation := 'above' | 'below'                  (the first phrase's place relative to the second)
"""
from typing import Dict, List, Sequence

from .scene import COLORS, SHAPES, SIZES

ARTICLE = 'a'
SLOTS = {'size': tuple(SIZES), 'color': tuple(COLORS), 'shape': SHAPES}  # a phrase's words, in order
RELATIONS = ('above', 'below')
PHRASE_LEN = 1 + len(SLOTS)


def phrase(obj: Dict) -> str:
    return ' '.join([ARTICLE] + [obj[slot] for slot in SLOTS])


def describe(objects: Sequence[Dict], relation: str = 'above') -> str:
    """The caption of one object, or of two objects listed top to bottom; ``relation`` picks
    which one the caption names first ('above': the top one)."""
    if len(objects) == 1:
        return phrase(objects[0])
    if len(objects) != 2 or relation not in RELATIONS:
        raise ValueError(f'one object, or two with a relation in {RELATIONS}; got {len(objects)}, {relation!r}')
    first, second = objects if relation == 'above' else objects[::-1]
    return f'{phrase(first)} {relation} {phrase(second)}'


def parse(caption: str) -> List[Dict[str, str]]:
    """The objects a caption names (``size``, ``color``, ``shape``), top to bottom: the inverse of
    ``describe``. A caption outside the grammar is a ValueError that quotes it."""
    words = caption.split()

    def read_phrase(start: int) -> Dict[str, str]:
        article, *values = words[start:start + PHRASE_LEN]
        if article != ARTICLE or any(v not in SLOTS[s] for s, v in zip(SLOTS, values)):
            raise ValueError(f'not a caption of the shapes world: {caption!r}')
        return dict(zip(SLOTS, values))

    if len(words) == PHRASE_LEN:
        return [read_phrase(0)]
    if len(words) != 2 * PHRASE_LEN + 1 or words[PHRASE_LEN] not in RELATIONS:
        raise ValueError(f'not a caption of the shapes world: {caption!r}')
    first, second = read_phrase(0), read_phrase(PHRASE_LEN + 1)
    return [first, second] if words[PHRASE_LEN] == 'above' else [second, first]
