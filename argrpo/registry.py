"""Every registry of argrpo in one place.

MODELS, DATASETS, DATA_SAMPLERS, HOOKS, LOOPS and METRICS are children of MMEngine's root registries, so that a
Runner with ``default_scope='argrpo'`` finds our components. TOKENIZERS, GENERATORS, SAMPLERS,
REWARDS, ALGORITHMS and FEATURE_EXTRACTORS (the backbones of evaluation metrics) are argrpo's own
kinds. Each registry names the package it imports on
first use (``locations``), so a config needs no ``custom_imports``.
"""
from typing import Any, Optional

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry, build_from_cfg, build_model_from_cfg


def _check_type(cfg: Any, registry: Registry) -> None:
    """Fail on an unknown ``type`` with the registry's name and what it holds."""
    obj_type = cfg.get('type') if isinstance(cfg, dict) else None
    if not isinstance(obj_type, str):
        return
    registry.import_from_location()
    if registry.get(obj_type) is None:
        known = sorted(registry.module_dict)
        raise KeyError(f'{obj_type!r} is not in the {registry.scope}::{registry.name} registry, '
                       f'which holds: {", ".join(known) if known else "(nothing)"}')


def build_component(cfg: Any, registry: Registry, default_args: Optional[dict] = None) -> Any:
    _check_type(cfg, registry)
    return build_from_cfg(cfg, registry, default_args)


def build_model(cfg: Any, registry: Registry, default_args: Optional[dict] = None) -> Any:
    _check_type(cfg, registry)
    return build_model_from_cfg(cfg, registry, default_args)


def _child(name: str, parent: Registry, package: str, build_func=build_component) -> Registry:
    return Registry(name, parent=parent, scope='argrpo', build_func=build_func,
                    locations=[f'argrpo.{package}'])


def _own(name: str, package: str) -> Registry:
    return Registry(name, scope='argrpo', build_func=build_component,
                    locations=[f'argrpo.{package}'])


MODELS = _child('model', MMENGINE_MODELS, 'models', build_model)
DATASETS = _child('dataset', MMENGINE_DATASETS, 'datasets')
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, 'datasets')
HOOKS = _child('hook', MMENGINE_HOOKS, 'engine')
LOOPS = _child('loop', MMENGINE_LOOPS, 'engine')
METRICS = _child('metric', MMENGINE_METRICS, 'evaluation')

TOKENIZERS = _own('tokenizer', 'tokenizers')
GENERATORS = _own('generator', 'generators')
SAMPLERS = _own('token sampler', 'samplers')
REWARDS = _own('reward', 'rewards')
ALGORITHMS = _own('algorithm', 'algorithms')
FEATURE_EXTRACTORS = _own('feature extractor', 'evaluation')
