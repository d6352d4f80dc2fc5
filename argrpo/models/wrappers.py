"""DDP for GRPO: ``train_step`` is the model's own (rollout + several updates), with the policy's
teacher-forced forward going through DDP so that gradients are averaged across ranks. Works on
CPU (gloo) too, where MMEngine's default passes GPU ``device_ids``."""
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class GRPODistributedDataParallel(MMDistributedDataParallel):

    def __init__(self, module, detect_anomalous_params: bool = False, **kwargs):
        if next(module.parameters()).device.type == 'cpu':
            kwargs['device_ids'] = None
        super().__init__(module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    def train_step(self, data, optim_wrapper):
        return self.module.train_step(data, optim_wrapper, policy_module=self)
