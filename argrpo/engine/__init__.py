from .checkpointing import AtomicLocalBackend, allow_mmengine_checkpoints
from .hooks import EvalProgressHook, ExportWeightsHook, ReferenceSyncHook, SampleGridHook
from .launch import init_cpu_distributed
from .loops import GRPOTrainLoop

__all__ = ['AtomicLocalBackend', 'allow_mmengine_checkpoints', 'EvalProgressHook', 'ExportWeightsHook',
           'ReferenceSyncHook', 'SampleGridHook', 'init_cpu_distributed', 'GRPOTrainLoop']
