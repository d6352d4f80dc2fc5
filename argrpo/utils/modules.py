"""Frozen parts of models (VQ tokenizers, text encoders, feature networks, reward models, the
reference policy): no gradients, eval mode."""
from torch import nn


def frozen(module: nn.Module) -> nn.Module:
    module.requires_grad_(False)
    return module.eval()
