"""Every config parses, and every ``type`` it names is registered in the registry of its slot: a
typo, or a reward in the generator slot, fails here, not after hours of queueing for GPUs."""
import glob
import os.path as osp
import re
from typing import Iterator, List, Tuple

import pytest
from mmengine import registry as mm
from mmengine.config import Config
from mmengine.registry import Registry
from mmengine.utils import import_modules_from_strings

from argrpo import registry as ours

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(path for pattern in ('configs/**/*.py', 'projects/*/configs/**/*.py')
                 for path in glob.glob(osp.join(ROOT, pattern), recursive=True)
                 if '_base_' not in path)

# The registry of each slot, by the slot's path in the config (list indices left out). A typed
# dict anywhere else fails the test, so that a new slot gets its registry here.
SLOTS = [
    (r'model', 'MODELS'),
    (r'model\.generator', 'GENERATORS'),
    (r'model\.(tokenizer|text_encoder)', 'TOKENIZERS'),
    (r'model\.(sampler|eval_sampler)', 'SAMPLERS'),
    (r'model\.algorithm', 'ALGORITHMS'),
    (r'((model|\w+_evaluator)\.)?reward(\.rewards)*', 'REWARDS'),  # a bare reward: a service's config
    (r'((model|\w+_evaluator)\.)?reward(\.rewards)*\.backend', 'VLM_BACKENDS'),
    (r'\w+_evaluator', 'METRICS'),
    (r'(\w+_evaluator|((model|\w+_evaluator)\.)?reward(\.rewards)*)\.feature_extractor', 'FEATURE_EXTRACTORS'),
    (r'(\w+_evaluator|((model|\w+_evaluator)\.)?reward(\.rewards)*)\.feature_extractor\.tokenizer', 'TOKENIZERS'),
    (r'(\w+_evaluator|((model|\w+_evaluator)\.)?reward(\.rewards)*)\.detector', 'DETECTORS'),
    (r'\w+_dataloader\.dataset', 'DATASETS'),
    (r'((model|\w+_evaluator)\.)?reward(\.rewards)*\.reference(\.source)?', 'DATASETS'),  # real images of prompts
    (r'\w+_dataloader\.sampler', 'DATA_SAMPLERS'),
    (r'\w+_dataloader\.collate_fn', 'FUNCTIONS'),
    (r'custom_hooks|default_hooks\.\w+', 'HOOKS'),
    (r'(train|val|test)_cfg', 'LOOPS'),
    (r'optim_wrapper', 'OPTIM_WRAPPERS'),
    (r'optim_wrapper\.optimizer', 'OPTIMIZERS'),
    (r'param_scheduler', 'PARAM_SCHEDULERS'),
    (r'visualizer', 'VISUALIZERS'),
    (r'(visualizer\.)?vis_backends', 'VISBACKENDS'),
    (r'model_wrapper_cfg', 'MODEL_WRAPPERS'),
    (r'log_processor', 'LOG_PROCESSORS'),
]


def registry(name: str) -> Registry:
    """argrpo's registry of that name where it has one (its ``get`` also searches MMEngine's
    parent), else MMEngine's root registry."""
    found = getattr(ours, name, None)
    return found if isinstance(found, Registry) else getattr(mm, name)


def typed_nodes(node, path: str = '') -> Iterator[Tuple[str, dict]]:
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield path, node
        for key, value in node.items():
            yield from typed_nodes(value, f'{path}.{key}' if path else key)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from typed_nodes(value, path)


def misplaced_types(cfg: dict) -> List[str]:
    """Each typed dict whose type its slot's registry does not hold, or whose slot has none."""
    errors = []
    for path, node in typed_nodes(cfg):
        name = next((name for pattern, name in SLOTS if re.fullmatch(pattern, path)), None)
        if name is None:
            errors.append(f'{path}: {node["type"]!r} sits in a slot with no registry in SLOTS')
            continue
        reg = registry(name)
        for level in (reg, reg.parent):  # the packages that register into them
            if level is not None:
                level.import_from_location()
        if reg.get(node['type']) is None:
            errors.append(f'{path}: {node["type"]!r} is not in {reg.scope}::{reg.name}')
    return errors


@pytest.fixture(scope='module', autouse=True)
def import_argrpo():
    """Types argrpo registers into MMEngine's own registries (the DDP wrapper) need its packages."""
    for value in vars(ours).values():
        if isinstance(value, Registry) and value.scope == 'argrpo':
            value.import_from_location()


def test_the_paper_runs_have_configs():
    names = {osp.basename(p) for p in CONFIGS}
    assert {f'argrpo_llamagen-{m}.py' for m in ('b_c2i_256', 'l_c2i_256', 'xl_c2i_256', 'xl_c2i_384',
                                                 'xl_t2i_256')} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_types_are_registered_in_their_slots(path):
    cfg = Config.fromfile(path)
    if 'custom_imports' in cfg:
        import_modules_from_strings(**cfg.custom_imports)
    errors = misplaced_types(cfg.to_dict())
    assert not errors, f'{osp.relpath(path, ROOT)}:\n' + '\n'.join(errors)


def test_a_type_in_the_wrong_slot_or_an_unmapped_one_fails():
    reward = dict(type='GradientReward')
    errors = misplaced_types(dict(model=dict(type='ARGRPOModel', generator=reward,
                                             reward=dict(type='LlamaGenGPT')),
                                  my_helper=reward))
    assert errors == ["model.generator: 'GradientReward' is not in argrpo::generator",
                      "model.reward: 'LlamaGenGPT' is not in argrpo::reward",
                      "my_helper: 'GradientReward' sits in a slot with no registry in SLOTS"]
    assert misplaced_types(dict(model=dict(type='ARGRPOModel', reward=reward))) == []
