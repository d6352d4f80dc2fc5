"""Training of a timm image classifier: the demo's reward model and its held-out judge."""
from typing import Dict, Optional

import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from argrpo.evaluation.feature_extractors import timm_input
from argrpo.registry import MODELS
from argrpo.utils import prepare_images, quantize


@MODELS.register_module()
class ImageClassifierTrainer(BaseModel):
    """Cross-entropy on class labels, with the input preprocessing that ``TimmFeatures`` and
    ``ClassifierReward`` apply when the exported weights are used."""

    def __init__(self, model_name: str, model_options: Optional[dict] = None, image_size: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor)
        import timm
        self.net = timm.create_model(model_name, pretrained=False, **(model_options or {}))
        self.image_size, self.mean, self.std = timm_input(self.net, image_size)

    def forward(self, image: Tensor, label: Tensor, mode: str = 'loss', **unused) -> Dict[str, Tensor]:
        logits = self.net(prepare_images(quantize(image), self.image_size, self.mean, self.std))
        return dict(loss_ce=F.cross_entropy(logits, label), accuracy=(logits.argmax(-1) == label).float().mean())
