"""Distributed wrappers for GRPO: ``train_step`` is the model's GRPO iteration with the
minibatch losses run through the wrapper, so that gradients are averaged across ranks, as
``MMDistributedDataParallel.train_step`` runs ``BaseModel``'s forward. DDP replicates the model;
FSDP shards the policy and the reference. Both work on CPU (gloo) too."""
import functools
from typing import Callable, Dict

from mmengine.dist import get_world_size
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from torch import Tensor, nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard, register_fsdp_forward_method

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


@MODEL_WRAPPERS.register_module()
class GRPOFullyShardedDataParallel(nn.Module):
    """FSDP for GRPO with PyTorch's ``fully_shard`` (FSDP2): the policy's parameters, gradients
    and optimizer state, and the reference's parameters, are sharded across the processes;
    each block of the generator (the items of its ``nn.ModuleList`` children: LlamaGen's
    ``layers``) is a unit gathered only while it runs, the rest of the generator another.

    A rollout (``sample``) gathers the whole generator once for all its decode steps, then
    shards it again: rollouts cost the memory of one whole policy, updates and reference
    scoring one block at a time. Gradients are averaged across processes as under DDP. The
    decoder runs eagerly (``decoder='auto'`` becomes 'dynamic'): compiled decoding through FSDP's
    hooks has not been tried on a GPU yet; a config may still ask for it.
    Checkpoints hold whole tensors (``ARGenerationModel``'s state-dict hooks for the weights,
    ``AtomicCheckpointHook`` for the optimizer state), so they resume under any process count.

    In a config: ``model_wrapper_cfg = dict(type='argrpo.GRPOFullyShardedDataParallel')`` (or
    ``tools/train.py --fsdp``). Works on CPUs (gloo) and GPUs (nccl).

    Args:
        module: the ``ARGRPOModel`` (or a model whose ``policy`` / ``reference`` to shard).
        reshard_after_forward: free each gathered unit after its forward (memory) or keep it
            until backward (one all-gather less per unit).
    """

    def __init__(self, module: nn.Module, reshard_after_forward: bool = True):
        super().__init__()
        self.module = module
        if module.decoder == 'auto':
            module.decoder = 'dynamic'
        mesh = init_device_mesh(module.device.type, (get_world_size(), ))
        for generator in (module.policy, getattr(module, 'reference', None)):
            if generator is None:
                continue
            for child in generator.children():
                if isinstance(child, nn.ModuleList):
                    for block in child:
                        fully_shard(block, mesh=mesh, reshard_after_forward=reshard_after_forward)
            fully_shard(generator, mesh=mesh, reshard_after_forward=reshard_after_forward)
            generator.sample = _gathered(generator, generator.sample, reshard_after_forward)
            for method in ('log_prob', 'sample'):  # FSDP's hooks around them, as around forward
                register_fsdp_forward_method(generator, method)

    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        return self.module.grpo_iteration(data, optim_wrapper, self)

    def val_step(self, data: dict) -> list:
        return self.module.val_step(data)

    def test_step(self, data: dict) -> list:
        return self.module.test_step(data)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def _gathered(generator: FSDPModule, sample: Callable, reshard_after_forward: bool) -> Callable:
    """``sample`` with every unit of ``generator`` gathered for the whole call (one all-gather per
    unit, not one per decode step; plain tensors for the decoder), sharded again afterwards."""
    units = [m for m in generator.modules() if isinstance(m, FSDPModule)]

    @functools.wraps(sample)
    def run(*args, **kwargs):
        for unit in units:
            unit.unshard()
            unit.set_reshard_after_forward(False, recurse=False)
        try:
            return sample(*args, **kwargs)
        finally:
            for unit in units:
                unit.set_reshard_after_forward(reshard_after_forward, recurse=False)
                unit.reshard()
    return run
