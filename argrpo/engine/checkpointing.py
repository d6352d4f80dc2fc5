"""Safe and atomic checkpoints for MMEngine 0.10 under torch >= 2.6.

* MMEngine resumes with ``torch.load`` and no ``weights_only``, which now means True and refuses
  the few non-tensor objects MMEngine stores. ``allow_mmengine_checkpoints`` allow-lists exactly
  those; safe loading stays on.
* MMEngine writes checkpoints in place: a kill mid-write leaves a truncated file. The
  'atomic_local' file backend writes to a temporary file and renames it, so the previous
  checkpoint (and ``last_checkpoint``) stay usable; ``AtomicCheckpointHook`` saves through it.
"""
import logging
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from argrpo.registry import HOOKS
from argrpo.utils import atomic_write


def allow_mmengine_checkpoints() -> None:
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    scalar_types = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)]
    # HistoryBuffer pickles its statistics methods as getattr(buffer, 'min'); the weights-only
    # unpickler still refuses to call anything getattr returns, so this allows no code to run.
    torch.serialization.add_safe_globals(
        [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, getattr,
         *scalar_types])


@register_backend('atomic_local', force=True)
class AtomicLocalBackend(LocalBackend):

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(filepath, lambda f: f.write(obj))

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


class _DropFileClientNotices(logging.Filter):
    """MMEngine 0.10's ``CheckpointHook.before_train`` and ``save_checkpoint`` build a FileClient
    whatever the settings (kept for backward compatibility); FileClient and its 'disk' backend
    then announce their own deprecation, which no setting of ours can avoid."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ('"FileClient" will be deprecated' in message or '"HardDiskBackend" is the alias' in message)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` writing through the 'atomic_local' backend (unless
    ``backend_args`` says otherwise). It saves the parameter schedulers' state when the run has
    schedulers (MMEngine's hook warns at a run without them), and keeps MMEngine's notices
    about its own FileClient out of the run's log."""

    def __init__(self, *args, backend_args: Optional[dict] = None, **kwargs):
        super().__init__(*args, backend_args=backend_args or dict(backend='atomic_local'), **kwargs)
        self._quiet = _DropFileClientNotices()

    def before_run(self, runner) -> None:
        runner.logger.addFilter(self._quiet)

    def after_run(self, runner) -> None:
        runner.logger.removeFilter(self._quiet)

    def before_train(self, runner) -> None:
        self.save_param_scheduler = self.save_param_scheduler and runner.param_schedulers is not None
        super().before_train(runner)
