"""Registries find their components by name: each imports its own package on first use
(``locations``), so a config needs no ``custom_imports``. Checked in a new interpreter, since in
the suite other test modules have imported every package already."""
import importlib
import json
import os
import os.path as osp
import pkgutil
import subprocess
import sys

import pytest
from mmengine.registry import Registry

import argrpo
from argrpo import registry as ours
from argrpo.registry import TOKENIZERS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Run by a new interpreter: argv[1] a config, argv[2] {registry attribute: [type names]}. Each
# check runs in a fork taken before any argrpo package is imported, so one registry's imports
# cannot find another registry's types.
FIRST_USE = r'''
import json, os, sys
import mmengine.runner, open_clip, timm, torch, torchvision  # third-party: imported once, shared
from mmengine.config import Config
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS, DefaultScope
from argrpo import registry


def in_fork(check):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            out = check()
        except Exception as err:
            out = f'{type(err).__name__}: {err}'
        with os.fdopen(write, 'w') as f:
            json.dump(out, f)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        out = json.load(f)
    os.waitpid(pid, 0)
    return out


def modules_of(attr, names):
    return lambda: {n: getattr(getattr(registry, attr).get(n), '__module__', None) for n in names}


def build_as_the_runner_does():
    cfg = Config.fromfile(sys.argv[1])
    DefaultScope.get_instance('first_use', scope_name=cfg.default_scope)
    built = [MODELS.build(cfg.model), DATASETS.build(cfg.train_dataloader.dataset),
             METRICS.build(cfg.val_evaluator[0]), HOOKS.build(cfg.custom_hooks[0])]
    return [type(obj).__name__ for obj in built]


print(json.dumps(dict(
    preloaded=sorted(m for m in sys.modules if m.startswith('argrpo.') and m != 'argrpo.registry'),
    found={attr: in_fork(modules_of(attr, names)) for attr, names in json.loads(sys.argv[2]).items()},
    built=in_fork(build_as_the_runner_does))))
'''


def registered_here() -> dict:
    """{attribute of argrpo.registry: {type name: module}}: what each argrpo registry holds once
    every module of argrpo is imported (directly, not through the registries' locations)."""
    for module in pkgutil.walk_packages(argrpo.__path__, 'argrpo.'):
        importlib.import_module(module.name)
    return {attr: {name: cls.__module__ for name, cls in registry.module_dict.items()
                   if cls.__module__.startswith('argrpo.')}  # not types tests or projects add
            for attr, registry in vars(ours).items()
            if isinstance(registry, Registry) and registry.scope == 'argrpo'}


def first_use_in_new_interpreter(config: str, names: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
    proc = subprocess.run([sys.executable, '-c', FIRST_USE, config, json.dumps(names)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def first_use():  # a new interpreter: several seconds
    expected = registered_here()
    names = {attr: sorted(types) for attr, types in expected.items()}
    config = osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py')
    return expected, first_use_in_new_interpreter(config, names)


@pytest.mark.slow
def test_each_registry_finds_its_types_without_imports(first_use):
    expected, report = first_use
    assert report['preloaded'] == [], 'argrpo packages were imported before first use'
    assert all(expected[attr] for attr in ('GENERATORS', 'TOKENIZERS', 'SAMPLERS', 'REWARDS',
                                           'ALGORITHMS', 'MODELS', 'METRICS', 'HOOKS', 'DATASETS'))
    for attr, types in expected.items():
        assert report['found'][attr] == types, f'{attr} does not find its own types on first use'


@pytest.mark.slow
def test_a_config_builds_through_mmengine_registries_with_the_default_scope(first_use):
    _, report = first_use
    assert report['built'] == ['ARGRPOModel', 'ClassPromptDataset', 'RewardMetric', 'SampleGridHook']


def test_unknown_type_names_registry_and_contents():
    with pytest.raises(KeyError) as err:
        TOKENIZERS.build(dict(type='NoSuchTokenizer'))
    msg = str(err.value)
    assert 'NoSuchTokenizer' in msg and 'tokenizer' in msg and 'LlamaGenVQ' in msg
