from .adaptive_entropy_hook import AdaptiveEntropyHook
from .eval_progress_hook import EvalProgressHook
from .export_weights_hook import ExportWeightsHook
from .reference_sync_hook import ReferenceSyncHook
from .reward_hacking_guard_hook import RewardHackingGuardHook
from .sample_grid_hook import SampleGridHook

__all__ = ['AdaptiveEntropyHook', 'EvalProgressHook', 'ExportWeightsHook', 'ReferenceSyncHook',
           'RewardHackingGuardHook', 'SampleGridHook']
