from .autocast_optim_wrapper import AutocastOptimWrapper
from .checkpointing import AtomicCheckpointHook, AtomicLocalBackend, allow_mmengine_checkpoints
from .hooks import (AdaptiveEntropyHook, EvalProgressHook, ExportWeightsHook, ReferenceSyncHook,
                    RewardHackingGuardHook, SampleGridHook)
from .loops import GRPOTrainLoop

__all__ = ['AutocastOptimWrapper', 'AtomicCheckpointHook', 'AtomicLocalBackend', 'allow_mmengine_checkpoints',
           'AdaptiveEntropyHook', 'EvalProgressHook', 'ExportWeightsHook', 'ReferenceSyncHook',
           'RewardHackingGuardHook', 'SampleGridHook', 'GRPOTrainLoop']
