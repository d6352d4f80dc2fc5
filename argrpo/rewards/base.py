"""The interface every reward follows.

A reward scores decoded images (``[N, 3, H, W]`` in [-1, 1], any resolution) against their
prompts (``N`` strings) and returns ``[N]``. It is frozen: no gradient, eval mode, its own
preprocessing. ``components`` names what it computed, so that a composite can log each part.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from argrpo.utils import frozen


class BaseReward(nn.Module):
    """``per_sample``: a sample's score does not depend on the others of the batch, so a batch
    may be scored in chunks (``ARGRPOModel`` overlaps them with sampling); a reward that compares
    samples with each other sets it False."""

    per_sample: bool = True

    def __init__(self, name: Optional[str] = None):
        super().__init__()
        self.name = name or type(self).__name__

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        raise NotImplementedError

    def freeze(self) -> 'BaseReward':
        """Call at the end of ``__init__``: ``utils.frozen`` on the whole reward."""
        return frozen(self)

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        return {self.name: self.score(images, prompts).float()}

    def combine(self, components: Dict[str, Tensor]) -> Tensor:
        return components[self.name]

    def parts(self, components: Dict[str, Tensor]) -> Dict[str, Tuple[float, Tensor]]:
        """The reward as a weighted sum of parts, ``{name: (weight, values)}``, whose
        ``sum(weight * values)`` is ``combine(components)``: the units that GRPO's
        ``component_norm`` normalises one by one. Here one part, the reward itself."""
        return {self.name: (1.0, self.combine(components))}

    def forward(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        return self.combine(self.components(images, prompts))
