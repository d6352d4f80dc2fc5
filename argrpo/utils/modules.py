"""Helpers on modules: frozen parts, and the model inside a distributed wrapper."""
import types

from mmengine.model import is_model_wrapper
from torch import nn


def _stay_in_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def frozen(module: nn.Module) -> nn.Module:
    """Freeze ``module`` for good: no gradients, eval mode, and its ``train()`` keeps it in eval
    mode, so that a parent's ``train()`` (the Runner's, before training) leaves it there. The one
    way argrpo freezes the parts it does not train: VQ tokenizers, text encoders, reward models,
    feature networks, the reference policy."""
    module.requires_grad_(False)
    module.train = types.MethodType(_stay_in_eval, module)
    return module.eval()


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model itself, also when the Runner wrapped it (DDP, FSDP)."""
    return model.module if is_model_wrapper(model) else model
