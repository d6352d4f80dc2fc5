"""A classifier's belief that the image shows the prompted class: a task reward (an ImageNet
classifier for class-to-image, the shapes demo's own classifier), and (with ``output='correct'``)
the accuracy that a held-out classifier reports in evaluation."""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from argrpo.datasets.prompts import resolve_class_names
from argrpo.registry import FEATURE_EXTRACTORS, REWARDS
from .base import BaseReward


def timm_classifier(model_name: str, checkpoint: Optional[str] = None, model_options: Optional[dict] = None,
                    image_size: Optional[int] = None) -> nn.Module:
    """A timm classifier as ``TimmFeatures`` (its preprocessing, weights from a local file) that
    must have a head: the network of classifier-based rewards and judges."""
    net = FEATURE_EXTRACTORS.build(dict(type='TimmFeatures', model_name=model_name, checkpoint=checkpoint,
                                        model_options=model_options, image_size=image_size))
    if 'logits' not in net.outputs:
        raise ValueError(f'{model_name} has no classifier head (num_classes=0)')
    return net


@REWARDS.register_module()
class ClassifierReward(BaseReward):
    """Score of the class whose prompt ``template.format(name)`` the image was generated for.

    Args:
        model_name, checkpoint, model_options, image_size: the timm classifier (see
            ``TimmFeatures``), weights from a local file.
        class_names: the classifier's classes in order ('imagenet' or a list).
        output: 'prob' (softmax probability), 'log_prob', or 'correct' (1 if the argmax is the
            class, else 0).
    """

    def __init__(self, model_name: str, checkpoint: Optional[str] = None, class_names='imagenet',
                 template: str = '{}', output: str = 'prob', model_options: Optional[dict] = None,
                 image_size: Optional[int] = None, name: Optional[str] = None):
        super().__init__(name or 'classifier')
        if output not in ('prob', 'log_prob', 'correct'):
            raise ValueError(f"output is 'prob', 'log_prob' or 'correct', got {output!r}")
        self.net = timm_classifier(model_name, checkpoint, model_options, image_size)
        self.classes = {template.format(n): i for i, n in enumerate(resolve_class_names(class_names))}
        self.output = output
        self.freeze()

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        unknown = sorted({p for p in prompts if p not in self.classes})
        if unknown:
            raise KeyError(f'prompts that name no class of the classifier: {unknown[:3]}')
        device = next(self.net.parameters()).device
        target = torch.tensor([self.classes[p] for p in prompts], device=device)
        log_p = self.net(images.to(device))['logits'].float().log_softmax(-1)
        if self.output == 'correct':
            return (log_p.argmax(-1) == target).float()
        chosen = log_p.gather(1, target[:, None])[:, 0]
        return chosen if self.output == 'log_prob' else chosen.exp()
