"""Training of a timm image classifier: the world's reward classifiers and their held-out judges."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from argrpo.evaluation.feature_extractors import timm_input
from argrpo.registry import MODELS, TOKENIZERS
from argrpo.utils import frozen, prepare_images, quantize


@MODELS.register_module()
class ImageClassifierTrainer(BaseModel):
    """Cross-entropy on class labels, with the input preprocessing that ``TimmFeatures`` and the
    classifier rewards apply when the exported weights are used.

    ``heads``: train several classifications at once (e.g. colour and shape of each object of a
    scene): the logits are split into groups of these sizes, one per entry of the items'
    ``attributes``; without it the target is ``label``. ``accuracy``: all heads right.

    ``tokenizer`` (a frozen VQ tokenizer config): with probability ``reconstruct_prob`` an image
    is replaced by its VQ reconstruction, so that the classifier also knows images as the
    generator produces them (a reward model that only saw clean renders is easily fooled by
    the generator's off-distribution images: reward hacking).
    """

    def __init__(self, model_name: str, model_options: Optional[dict] = None, image_size: Optional[int] = None,
                 heads: Optional[Sequence[int]] = None, tokenizer: Optional[dict] = None,
                 reconstruct_prob: float = 0.5, data_preprocessor: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor)
        import timm
        self.net = timm.create_model(model_name, pretrained=False, **(model_options or {}))
        if heads is not None and sum(heads) != self.net.num_classes:
            raise ValueError(f'heads {list(heads)} need num_classes={sum(heads)}, the model has {self.net.num_classes}')
        self.heads = list(heads) if heads is not None else None
        self.image_size, self.mean, self.std = timm_input(self.net, image_size)
        self.tokenizer = frozen(TOKENIZERS.build(tokenizer)) if tokenizer else None
        self.reconstruct_prob = reconstruct_prob

    def forward(self, image: Tensor, label: Tensor, attributes: Optional[Tensor] = None, mode: str = 'loss',
                **unused) -> Dict[str, Tensor]:
        if self.tokenizer is not None:
            with torch.no_grad():
                pick = torch.rand(len(image), device=image.device) < self.reconstruct_prob
                if pick.any():
                    image = image.clone()
                    image[pick] = self.tokenizer.decode(self.tokenizer.encode(image[pick]))
        logits = self.net(prepare_images(quantize(image), self.image_size, self.mean, self.std))
        if self.heads is None:
            groups, targets = [logits], label[:, None]
        else:
            groups = logits.split(self.heads, dim=-1)
            targets = attributes
        loss = sum(F.cross_entropy(g, targets[:, i]) for i, g in enumerate(groups))
        right = torch.stack([g.argmax(-1) == targets[:, i] for i, g in enumerate(groups)], -1)
        return dict(loss_ce=loss, accuracy=right.all(-1).float().mean())
