from .hooks import ReferenceSyncHook, SampleGridHook
from .loops import GRPOTrainLoop
from .checkpointing import AtomicLocalBackend, allow_mmengine_checkpoints

__all__ = ['ReferenceSyncHook', 'SampleGridHook', 'GRPOTrainLoop', 'AtomicLocalBackend', 'allow_mmengine_checkpoints']
