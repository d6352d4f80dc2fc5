"""Safe and atomic checkpoints for MMEngine 0.10 under torch >= 2.6.

* MMEngine resumes with ``torch.load`` and no ``weights_only``, which now means True and refuses
  the few non-tensor objects MMEngine stores. ``allow_mmengine_checkpoints`` allow-lists exactly
  those; safe loading stays on.
* MMEngine writes checkpoints in place: a kill mid-write leaves a truncated file. The
  'atomic_local' backend writes to a temporary file and renames it, so the previous checkpoint
  (and ``last_checkpoint``) stay usable. ``CheckpointHook(backend_args=dict(backend='atomic_local'))``.
"""
import os
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend


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
        filepath = os.fspath(filepath)
        directory = os.path.dirname(os.path.abspath(filepath))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp_', suffix=os.path.basename(filepath))
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)
