"""A BaseModel whose named frozen parts stay in eval mode when the Runner calls ``train()``."""
from typing import Tuple

from mmengine.model import BaseModel


class FrozenPartsModel(BaseModel):
    frozen_parts: Tuple[str, ...] = ()  # attribute names; a part may be None

    def train(self, mode: bool = True) -> 'FrozenPartsModel':
        super().train(mode)
        for name in self.frozen_parts:
            part = getattr(self, name, None)
            if part is not None:
                part.eval()
        return self
