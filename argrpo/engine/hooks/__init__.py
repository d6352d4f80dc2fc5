from .eval_progress_hook import EvalProgressHook
from .reference_sync_hook import ReferenceSyncHook
from .sample_grid_hook import SampleGridHook

__all__ = ['EvalProgressHook', 'ReferenceSyncHook', 'SampleGridHook']
