"""A GenEval-like check for the world's two-object captions ('a small red circle above a large
blue square'): is the object at each position of the named colour and shape? Judged by a timm
classifier with one head per attribute (top colour, top shape, bottom colour, bottom shape)."""
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from argrpo.registry import REWARDS
from argrpo.rewards import BaseReward, timm_classifier
from .captions import parse
from .scene import COLORS, SHAPES, attributes

ATTRIBUTES = ('top_color', 'top_shape', 'bottom_color', 'bottom_shape')
HEADS = (len(COLORS), len(SHAPES)) * 2


def caption_attributes(caption: str) -> List[int]:
    """Expected (colour, shape) indices of the top and bottom objects of a two-object caption."""
    objects = parse(caption)
    if len(objects) != 2:
        raise ValueError(f'not a two-object caption: {caption!r}')
    return attributes(objects)


@REWARDS.register_module()
class SceneAttributeReward(BaseReward):
    """Args:
        model_name, checkpoint, model_options, image_size: the attribute classifier (timm, with
            ``num_classes`` = 14 logits split into the four heads), weights from a local file.
        output: 'prob': the mean probability of the four named attributes (a reward);
            'correct': per-attribute 0/1 components and ``all`` (everything right: the GenEval
            score of the prompt, position included), combined as the mean attribute accuracy.
    """

    def __init__(self, model_name: str, checkpoint: Optional[str] = None, model_options: Optional[dict] = None,
                 image_size: Optional[int] = None, output: str = 'prob', name: Optional[str] = None):
        super().__init__(name or 'attributes')
        if output not in ('prob', 'correct'):
            raise ValueError(f"output is 'prob' or 'correct', got {output!r}")
        self.net = timm_classifier(model_name, checkpoint, model_options, image_size)
        self.output = output
        self.freeze()

    def per_attribute(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        """[N, 4]: probability (or correctness) of each named attribute."""
        device = next(self.net.parameters()).device
        target = torch.tensor([caption_attributes(p) for p in prompts], device=device)
        groups = self.net(images.to(device))['logits'].float().split(HEADS, dim=-1)
        if self.output == 'correct':
            return torch.stack([g.argmax(-1) == target[:, i] for i, g in enumerate(groups)], -1).float()
        return torch.stack([g.softmax(-1).gather(1, target[:, i, None])[:, 0] for i, g in enumerate(groups)], -1)

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        return self.per_attribute(images, prompts).mean(-1)

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        if self.output == 'prob':
            return super().components(images, prompts)
        values = self.per_attribute(images, prompts)
        parts = {f'{self.name}_{a}': values[:, i] for i, a in enumerate(ATTRIBUTES)}
        parts[f'{self.name}_all'] = values.min(-1).values
        return parts

    def combine(self, components: Dict[str, Tensor]) -> Tensor:
        if self.output == 'prob':
            return super().combine(components)
        return torch.stack([components[f'{self.name}_{a}'] for a in ATTRIBUTES], -1).mean(-1)
