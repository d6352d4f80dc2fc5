"""Safe and atomic checkpoints for MMEngine 0.10 under torch >= 2.6.

* MMEngine resumes with ``torch.load`` and no ``weights_only``, which now means True and refuses
  the few non-tensor objects MMEngine stores. ``allow_mmengine_checkpoints`` allow-lists exactly
  those; safe loading stays on.
* Sharded (FSDP) weights and optimizer state are saved whole (``whole_state``) and sharded
  again on loading, so a run resumes under any number of processes.
* MMEngine writes checkpoints in place: a kill mid-write leaves a truncated file. The
  'atomic_local' file backend writes to a temporary file and renames it, so the previous
  checkpoint (and ``last_checkpoint``) stay usable; ``AtomicCheckpointHook`` saves through it.
"""
import contextlib
import logging
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch.distributed.tensor import DTensor

from argrpo.registry import HOOKS
from argrpo.utils import atomic_write, shard_like, unwrap_model, whole


def allow_mmengine_checkpoints() -> None:
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    scalar_types = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)]
    # HistoryBuffer pickles its statistics methods as getattr(buffer, 'min'); the weights-only
    # unpickler still refuses to call anything getattr returns, so this allows no code to run.
    torch.serialization.add_safe_globals(
        [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, getattr,
         *scalar_types])


def _optimizers(runner) -> list:
    """The run's optimizers; none before they are built, or in a run that does not train."""
    wrapper = runner.optim_wrapper
    if isinstance(wrapper, OptimWrapperDict):
        return [w.optimizer for w in wrapper.values()]
    return [wrapper.optimizer] if isinstance(wrapper, OptimWrapper) else []


def _sharded_params(optimizer: torch.optim.Optimizer) -> list:
    """The optimizer's parameters in state-dict order, or [] when none is sharded."""
    params = [p for group in optimizer.param_groups for p in group['params']]
    return params if any(isinstance(p, DTensor) for p in params) else []


def shard_on_load(optimizer: torch.optim.Optimizer) -> None:
    """Loading a whole optimizer state (see ``whole_state``) shards it like its parameters."""
    def shard(optimizer, state_dict: dict) -> None:
        for index, param in enumerate(_sharded_params(optimizer)):
            state = state_dict['state'].get(index, {})
            state.update({key: shard_like(value, param) for key, value in state.items()})
    optimizer.register_load_state_dict_pre_hook(shard)


@contextlib.contextmanager
def whole_state(runner, optimizer: bool = True) -> Iterator[None]:
    """Around a save by the main process (``Runner.save_checkpoint`` runs there only): every
    process gathers the sharded (FSDP) weights (the model's state-dict hooks) and, when the save
    holds it, the optimizer state, one tensor at a time onto the CPU; the model and optimizers
    answer ``state_dict()`` with them until the end, so the main process needs no collective of
    its own. The checkpoint holds whole tensors and resumes under any number of processes.
    Nothing to do for unsharded runs."""
    model = unwrap_model(runner.model)
    if not any(isinstance(p, DTensor) for p in model.parameters()):
        yield
        return
    owners = [(model, model.state_dict())]
    for optim in _optimizers(runner) if optimizer else []:
        state = optim.state_dict()  # its per-parameter dicts are the optimizer's own: build new ones
        state['state'] = {index: {key: whole(value) for key, value in values.items()}
                          for index, values in state['state'].items()}
        owners.append((optim, state))
    for owner, state in owners:
        owner.state_dict = lambda *args, state=state, **kwargs: state
    try:
        yield
    finally:
        for owner, _ in owners:
            del owner.state_dict


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
        for optimizer in _optimizers(runner):
            if _sharded_params(optimizer):
                shard_on_load(optimizer)

    def after_run(self, runner) -> None:
        runner.logger.removeFilter(self._quiet)

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        with whole_state(runner):
            super()._save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with whole_state(runner, optimizer=False):
            super()._save_best_checkpoint(runner, metrics)

    def before_train(self, runner) -> None:
        self.save_param_scheduler = self.save_param_scheduler and runner.param_schedulers is not None
        super().before_train(runner)
