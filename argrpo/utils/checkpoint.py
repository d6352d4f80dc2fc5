"""Reading pretrained weights from local files, safely and strictly.

Files load with ``weights_only=True`` (or safetensors): a checkpoint that pickles code is
refused, never run. Weights must fit the module exactly: a wrong file is an error naming the
first keys or shapes that differ, not a silent partial load.
"""
import hashlib
import os
from typing import Dict, Iterable, Optional

import torch
from torch import nn

# Keys under which LlamaGen / DeepSpeed / MMEngine / pyiqa files nest the state dict.
WRAPPER_KEYS = ('model', 'module', 'state_dict', 'params')


def require_file(path: Optional[str], what: str, how_to_get: str = '') -> str:
    """Return ``path`` if it is a file, else raise an error naming it and how to get it."""
    if not path:
        raise FileNotFoundError(f'No file given for {what}. {how_to_get}'.strip())
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what}: file not found: {path}. {how_to_get}'.strip())
    return path


def load_state_dict_file(path: str, what: str = 'checkpoint',
                         how_to_get: str = '') -> Dict[str, torch.Tensor]:
    """Load a state dict from ``.safetensors`` or a torch file, unwrapping ``{'model': ...}``,
    ``{'module': ...}``, ``{'state_dict': ...}`` or pyiqa's ``{'params': ...}``."""
    path = require_file(path, what, how_to_get)
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path, device='cpu')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # pickle.UnpicklingError and friends
        raise RuntimeError(f'{what}: {path} cannot be loaded with weights_only=True (it may '
                           f'hold pickled code, which argrpo refuses to run): {err}') from err
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise RuntimeError(f'{what}: {path} holds no state dict of tensors')
    return obj


def _first(keys: Iterable[str], n: int = 5) -> str:
    keys = sorted(keys)
    more = f' (and {len(keys) - n} more)' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def load_weights(module: nn.Module, path: str, what: str, how_to_get: str = '',
                 ignore_keys: Iterable[str] = (), strip_prefixes: Iterable[str] = ()) -> None:
    """Load ``path`` into ``module`` strictly; ``ignore_keys`` are dropped from the file (e.g.
    LlamaGen's non-persistent ``freqs_cis``), ``strip_prefixes`` removed from key names."""
    state = load_state_dict_file(path, what, how_to_get)
    for prefix in strip_prefixes:
        state = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if k not in set(ignore_keys)}
    own = module.state_dict()
    # BatchNorm fills in a missing step counter itself (files from before it existed)
    missing = {k for k in own.keys() - state.keys() if not k.endswith('num_batches_tracked')}
    unexpected = state.keys() - own.keys()
    wrong_shape = [f'{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                   for k in sorted(own.keys() & state.keys()) if own[k].shape != state[k].shape]
    problems = []
    if missing:
        problems.append(f'missing in file: {_first(missing)}')
    if unexpected:
        problems.append(f'not in model: {_first(unexpected)}')
    if wrong_shape:
        problems.append(f'shape mismatch: {"; ".join(wrong_shape[:5])}')
    if problems:
        raise RuntimeError(f'{what}: {path} does not fit the configured model: '
                           + ' | '.join(problems))
    module.load_state_dict(state, strict=True)


def file_digest(path: str, length: int = 16) -> str:
    """The first ``length`` hex digits of the file's SHA-256: which weights produced something."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()[:length]
