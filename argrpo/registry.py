"""Every registry of argrpo in one place.

Children of MMEngine's root registries (scope 'argrpo'), so that a Runner with
``default_scope='argrpo'`` finds our components and MMEngine's own: MODELS, MODEL_WRAPPERS,
DATASETS, DATA_SAMPLERS, HOOKS, LOOPS, METRICS hold argrpo's; the other MMEngine kinds a run
builds (optimizers, schedulers, visualizers, ...) get a child too, where argrpo's would go, so
that MMEngine finds the scope in every registry tree it searches. TOKENIZERS, GENERATORS,
SAMPLERS, REWARDS, VLM_BACKENDS (the models that answer a VLM judge), ALGORITHMS,
FEATURE_EXTRACTORS (the backbones of evaluation metrics) and DETECTORS (the instance detectors of
GenEval) are argrpo's own kinds. Each registry
names the package it imports on first use (``locations``), so a config needs no
``custom_imports``.
"""
from typing import Any, Optional

from mmengine import registry as mmengine_registry
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


def _child(parent: str, package: str, build_func=None) -> Registry:
    """argrpo's child of MMEngine's registry ``parent`` (``build_func`` None: the parent's)."""
    parent_registry = getattr(mmengine_registry, parent)
    return Registry(parent_registry.name, parent=parent_registry, scope='argrpo', build_func=build_func,
                    locations=[f'argrpo.{package}'])


def _own(name: str, package: str) -> Registry:
    return Registry(name, scope='argrpo', build_func=build_component,
                    locations=[f'argrpo.{package}'])


# MMEngine's kinds that hold argrpo components
MODELS = _child('MODELS', 'models', build_model)
MODEL_WRAPPERS = _child('MODEL_WRAPPERS', 'models')
DATASETS = _child('DATASETS', 'datasets', build_component)
DATA_SAMPLERS = _child('DATA_SAMPLERS', 'datasets', build_component)
HOOKS = _child('HOOKS', 'engine', build_component)
LOOPS = _child('LOOPS', 'engine', build_component)
METRICS = _child('METRICS', 'evaluation', build_component)

# MMEngine's kinds that a run builds from MMEngine alone (so far)
OPTIMIZERS = _child('OPTIMIZERS', 'engine')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS', 'engine')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS', 'engine')
RUNNERS = _child('RUNNERS', 'engine')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS', 'engine')
LOG_PROCESSORS = _child('LOG_PROCESSORS', 'engine')
VISBACKENDS = _child('VISBACKENDS', 'engine')
VISUALIZERS = _child('VISUALIZERS', 'engine')
STRATEGIES = _child('STRATEGIES', 'engine')
EVALUATOR = _child('EVALUATOR', 'evaluation')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS', 'models')
FUNCTIONS = _child('FUNCTIONS', 'datasets')
TRANSFORMS = _child('TRANSFORMS', 'datasets')

# argrpo's own kinds
TOKENIZERS = _own('tokenizer', 'tokenizers')
GENERATORS = _own('generator', 'generators')
SAMPLERS = _own('token sampler', 'samplers')
REWARDS = _own('reward', 'rewards')
VLM_BACKENDS = _own('VLM backend', 'rewards')
ALGORITHMS = _own('algorithm', 'algorithms')
FEATURE_EXTRACTORS = _own('feature extractor', 'evaluation')
DETECTORS = _own('object detector', 'detectors')
