"""LoRA policies through peft: low-rank adapters on a generator's linear layers, trained in place
of its weights.

The adapters are injected into the generator itself (``peft.inject_adapter_in_model``), so it
keeps its class and its methods (``sample``, ``log_prob``, ``block_size``...); its own weights are
frozen. With the adapters switched off it is the base model again: GRPO's reference, without a
second copy of the weights. ``merge_lora`` folds the adapters into the weights and gives back the
plain generator, whose state dict has the family's own key names (LlamaGen's for ``LlamaGenGPT``).
"""
import contextlib
from typing import Iterator, List, Tuple

from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

# LlamaGen's transformer-block linears: attention (wqkv, wo) and SwiGLU (w1, w2, w3)
DEFAULT_TARGETS = ('wqkv', 'wo', 'w1', 'w2', 'w3')


def adapted_layers(module: nn.Module) -> List[Tuple[str, BaseTunerLayer]]:
    """(name, layer) of each LoRA layer in ``module``; [] for a plain module."""
    return [(name, m) for name, m in module.named_modules() if isinstance(m, BaseTunerLayer)]


def apply_lora(module: nn.Module, lora: dict) -> nn.Module:
    """Inject LoRA adapters into ``module`` in place and freeze everything else (only adapters
    train). ``lora``: ``peft.LoraConfig`` arguments (``r``, ``lora_alpha``, ``lora_dropout``,
    ``target_modules``: names of linear layers, default ``DEFAULT_TARGETS``; add 'output' for
    the logits layer). The adapters start at zero (``lora_B``), so the policy starts as the base.
    Returns ``module`` itself."""
    if 'modules_to_save' in lora:
        raise ValueError('model.lora: modules_to_save is not supported (full trainable copies of '
                         'modules would leave the reference, the base with adapters off, '
                         'without them); adapt those layers with target_modules instead')
    targets = lora.get('target_modules', DEFAULT_TARGETS)  # a list of names, or a regex
    config = LoraConfig(**dict(lora, target_modules=targets if isinstance(targets, str) else list(targets)))
    return inject_adapter_in_model(config, module)


@contextlib.contextmanager
def adapters_disabled(module: nn.Module) -> Iterator[nn.Module]:
    """Within the block ``module`` runs as its base model, adapters off (GRPO's reference);
    they are switched on again (and trainable) on leaving it."""
    layers = [layer for _, layer in adapted_layers(module)]
    for layer in layers:
        layer.enable_adapters(False)
    try:
        yield module
    finally:
        for layer in layers:
            layer.enable_adapters(True)


def merge_lora(module: nn.Module) -> nn.Module:
    """Fold the adapters into the weights (``W + scale * B @ A``) and put each base layer back
    in place of its LoRA layer, in place: ``module`` becomes the plain generator, its state dict
    in the family's key names. Returns ``module``."""
    layers = adapted_layers(module)
    if not layers:
        raise ValueError(f'{type(module).__name__} holds no LoRA adapters to merge')
    for name, layer in layers:
        layer.merge(safe_merge=True)  # an error, not a silent NaN, where a merged weight is not finite
        parent_name, _, child = name.rpartition('.')
        setattr(module.get_submodule(parent_name), child, layer.get_base_layer())
    module.__dict__.pop('peft_config', None)
    return module
