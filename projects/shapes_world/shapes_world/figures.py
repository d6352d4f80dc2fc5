"""The demo's before/after picture: the same prompts and sample seeds, the model before GRPO on the
left and after on the right, one row per prompt."""
from typing import Sequence

import numpy as np


def before_after_image(before: np.ndarray, after: np.ndarray, rows: Sequence[Sequence[int]],
                       labels: Sequence[str], scale: int = 3, gap: int = 2) -> np.ndarray:
    """uint8 [H, W, 3]: for each row, ``labels[r]``, then the samples ``rows[r]`` of ``before`` and
    the same samples of ``after`` (uint8 [N, h, w, 3] in evaluation order: equal indices were drawn
    for the same prompt with the same seed), each enlarged ``scale`` times without smoothing."""
    from PIL import Image, ImageDraw, ImageFont

    if before.shape != after.shape:
        raise ValueError(f'before and after samples differ in shape: {before.shape} vs {after.shape}')
    if len(rows) != len(labels):
        raise ValueError(f'{len(rows)} rows but {len(labels)} labels')
    font = ImageFont.load_default()
    size = before.shape[1] * scale
    per_row = max(len(row) for row in rows)
    label_width = max(int(font.getlength(label)) for label in labels) + 12
    block = per_row * (size + gap)
    header, middle = 18, 16
    canvas = Image.new('RGB', (label_width + 2 * block + middle, header + len(rows) * (size + gap)), 'white')
    draw = ImageDraw.Draw(canvas)
    draw.text((label_width, 3), 'before GRPO', fill='black', font=font)
    draw.text((label_width + block + middle, 3), 'after GRPO', fill='black', font=font)
    for r, (row, label) in enumerate(zip(rows, labels)):
        top = header + r * (size + gap)
        draw.text((4, top + size // 2 - 6), label, fill='black', font=font)
        for c, index in enumerate(row):
            for images, left in ((before, label_width), (after, label_width + block + middle)):
                tile = Image.fromarray(images[index]).resize((size, size), Image.NEAREST)
                canvas.paste(tile, (left + c * (size + gap), top))
    return np.asarray(canvas)
