"""DDP for GRPO: ``train_step`` is the model's GRPO iteration with the minibatch losses run
through DDP, so that gradients are averaged across ranks; as ``MMDistributedDataParallel.train_step``
runs ``BaseModel``'s forward. Works on CPU (gloo) too, where MMEngine's default passes GPU
``device_ids``."""
from typing import Dict

from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from torch import Tensor

from argrpo.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class GRPODistributedDataParallel(MMDistributedDataParallel):
    """In a config: ``model_wrapper_cfg = dict(type='argrpo.GRPODistributedDataParallel')`` (the
    Runner looks the type up in MMEngine's root registry, so the scope is named)."""

    def __init__(self, module, detect_anomalous_params: bool = False, **kwargs):
        if next(module.parameters()).device.type == 'cpu':
            kwargs['device_ids'] = None
        super().__init__(module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        return self.module.grpo_iteration(data, optim_wrapper, self)
