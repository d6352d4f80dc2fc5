"""Every config parses, and every ``type`` it names is registered (a typo fails here, not after
hours of queueing for GPUs)."""
import glob
import os.path as osp

import pytest
from mmengine import registry as mm
from mmengine.config import Config

from argrpo import registry as ours

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
REGISTRIES = [ours.MODELS, ours.DATASETS, ours.DATA_SAMPLERS, ours.HOOKS, ours.LOOPS, ours.METRICS,
              ours.TOKENIZERS, ours.GENERATORS, ours.SAMPLERS, ours.REWARDS, ours.ALGORITHMS,
              ours.FEATURE_EXTRACTORS, mm.OPTIM_WRAPPERS, mm.OPTIMIZERS, mm.PARAM_SCHEDULERS,
              mm.VISBACKENDS, mm.VISUALIZERS, mm.FUNCTIONS, mm.MODEL_WRAPPERS, mm.LOG_PROCESSORS]


def types_in(node):
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type']
        for value in node.values():
            yield from types_in(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from types_in(value)


def test_the_paper_runs_have_configs():
    names = {osp.basename(p) for p in CONFIGS}
    assert {f'argrpo_llamagen-{m}.py' for m in ('b_c2i_256', 'l_c2i_256', 'xl_c2i_256', 'xl_c2i_384',
                                                 'xl_t2i_256')} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, osp.join(ROOT, 'configs')))
def test_config_types_are_registered(path):
    cfg = Config.fromfile(path)
    for registry in REGISTRIES:
        registry.import_from_location()
    unknown = {t for t in types_in(cfg.to_dict())
               if not any(r.get(t) is not None for r in REGISTRIES)}
    assert not unknown, f'{osp.basename(path)} names unregistered types: {sorted(unknown)}'
