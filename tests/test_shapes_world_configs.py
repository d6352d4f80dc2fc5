"""The shapes world is a project on the library, not a part of it: its configs load its types
through ``custom_imports``, and nothing under argrpo/ imports it (or the tools)."""
import ast
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config

from projects.shapes_world.shapes_world import class_names

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROJECT_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'projects', 'shapes_world', 'configs', '*.py')))


def test_no_library_module_imports_the_project_or_the_tools():
    offenders = []
    for path in glob.glob(osp.join(ROOT, 'argrpo', '**', '*.py'), recursive=True):
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f'{osp.relpath(path, ROOT)}: {n}' for n in names if n.split('.')[0] in ('projects', 'tools')]
    assert not offenders


# Run by a new interpreter (what other tests imported does not count), argv[1:] the project's
# configs: first what importing the library loads, then what loading each config finds.
FIRST_IMPORTS = r'''
import json, sys
import argrpo.datasets, argrpo.rewards, argrpo.models, argrpo.registry as r
for registry in (r.MODELS, r.DATASETS, r.REWARDS, r.TOKENIZERS, r.HOOKS, r.METRICS):
    registry.import_from_location()
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('projects', 'tools'))
from mmengine.config import Config
found = {}
for path in sys.argv[1:]:
    cfg = Config.fromfile(path)
    rewards = cfg.model.reward.rewards if 'reward' in cfg.model else []
    found[path] = [cfg.custom_imports.imports, r.MODELS.get(cfg.model.type) is not None,
                   r.DATASETS.get(cfg.train_dataloader.dataset.type) is not None,
                   all(r.HOOKS.get(h.type) is not None for h in cfg.custom_hooks),
                   all(r.REWARDS.get(w.type) is not None for w in rewards)]
print(json.dumps(dict(loaded=loaded, found=found)))
'''


@pytest.fixture(scope='module')
def first_imports() -> dict:
    proc = subprocess.run([sys.executable, '-c', FIRST_IMPORTS, *PROJECT_CONFIGS], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_library_leaves_the_project_unloaded(first_imports):
    assert first_imports['loaded'] == []


def test_project_configs_import_the_project_and_name_its_types(first_imports):
    """Loading a config imports the project (custom_imports); its types are then registered."""
    found = first_imports['found']
    assert sorted(found) == PROJECT_CONFIGS and len(found) == 30
    for path, (imports, *registered) in found.items():
        # the project, and maybe modules of it that its package does not import (prompt_scenes)
        assert imports[0] == 'projects.shapes_world.shapes_world' and all(registered), (path, registered)
        assert all(name.startswith('projects.shapes_world.shapes_world.') for name in imports[1:]), path


def test_class_to_image_configs_name_the_worlds_classes():
    cfg = Config.fromfile(osp.join(ROOT, 'projects', 'shapes_world', 'configs', 'shapes_grpo.py'))
    uses = [cfg.train_dataloader.dataset, cfg.test_dataloader.dataset, cfg.model.reward.rewards[0],
            cfg.test_evaluator[1].reward]
    assert all(list(u.class_names) == class_names() for u in uses)
    assert 'classes' not in cfg  # the config's helper list is not a setting of the run


def test_grpo_variants_change_only_what_they_name():
    """Each variant is its task's GRPO run with a larger KL weight, guidance and / or the
    distribution reward with entropy control, evaluated as the baseline is (tools/demo.py shares the
    SFT evaluation between them)."""
    def load(name):
        return Config.fromfile(osp.join(ROOT, 'projects', 'shapes_world', 'configs', f'{name}.py'))

    for task, scale, classifier in (('', 2.0, 'classifier'), ('_t2i', 4.0, 'attributes')):
        baseline = load(f'shapes_grpo{task}')
        hooks = [hook.type for hook in baseline.custom_hooks]
        for name in ('kl', 'guided', 'distribution', 'guided_distribution'):
            cfg = load(f'shapes_grpo{task}_{name}')
            assert cfg.test_evaluator == baseline.test_evaluator and cfg.train_cfg == baseline.train_cfg
            assert cfg.model.sampler.get('cfg_scale', 1.0) == (scale if 'guided' in name else 1.0)
            assert cfg.model.algorithm == (dict(baseline.model.algorithm, beta=0.1) if name == 'kl'
                                           else baseline.model.algorithm)
            if 'distribution' in name:
                instance, distribution = cfg.model.reward.rewards
                assert instance == baseline.model.reward and distribution.type == 'LeaveOneOutFID'
                assert distribution.feature_extractor.checkpoint.endswith(f'/{classifier}/{classifier}.pth')
                assert [hook.type for hook in cfg.custom_hooks] == hooks + ['AdaptiveEntropyHook']
            else:
                assert cfg.model.reward == baseline.model.reward and cfg.custom_hooks == baseline.custom_hooks
    clip, vq = load('shapes_grpo_distribution_clip'), load('shapes_grpo_distribution_vq')
    for cfg in (clip, vq):  # the distribution reward in another feature space
        assert 'instance' not in cfg and 'distribution' not in cfg  # the config's helpers
        assert cfg.model.reward.rewards[0] == load('shapes_grpo').model.reward
        assert cfg.model.algorithm == load('shapes_grpo').model.algorithm
    assert dict(clip.model.reward.rewards[1].feature_extractor) == dict(
        type='OpenCLIPFeatures', arch='ShapesCLIP-Tiny', checkpoint=clip.model.reward.rewards[0].rewards[1].checkpoint)
    assert dict(vq.model.reward.rewards[1].feature_extractor) == dict(
        type='TokenizerFeatures', tokenizer=vq.model.tokenizer, grid=4)


def test_issue_22_variants_switch_on_only_their_piece():
    """Each variant is its task's GRPO run with one piece against the collapse within a prompt
    (group diversity reward, per-prompt distribution reward, per-component advantages, token
    credit), or all of them (diverse); its per-prompt real images cover the training prompts."""
    def load(name):
        return Config.fromfile(osp.join(ROOT, 'projects', 'shapes_world', 'configs', f'{name}.py'))

    from argrpo.registry import DATASETS
    for task, fid in (('', 'class_fid'), ('_t2i', 'caption_fid')):
        baseline = load(f'shapes_grpo{task}')
        for name in ('group_diversity', fid, 'component_norm', 'token_credit', 'diverse'):
            cfg = load(f'shapes_grpo{task}_{name}')
            assert cfg.test_evaluator == baseline.test_evaluator and cfg.train_cfg == baseline.train_cfg
            assert cfg.model.sampler == baseline.model.sampler and cfg.custom_hooks == baseline.custom_hooks
            algorithm = dict(baseline.model.algorithm)
            if name in ('component_norm', 'diverse'):
                algorithm['component_norm'] = True
            if name in ('token_credit', 'diverse'):
                algorithm['token_credit'] = dict(match='exact', strength=1.0, power=1.0, min_weight=0.1)
            assert cfg.model.algorithm == algorithm, name
            if name in ('component_norm', 'token_credit'):
                assert cfg.model.reward == baseline.model.reward
                continue
            instance, *added = cfg.model.reward.rewards
            assert instance == baseline.model.reward
            types = {'group_diversity': ['GroupDiversity'], fid: ['ConditionalLeaveOneOutFID'],
                     'diverse': ['GroupDiversity', 'ConditionalLeaveOneOutFID']}[name]
            assert [reward.type for reward in added] == types
            for reward in added:  # in the VQ layout features, never the held-out judge's
                assert dict(reward.feature_extractor) == dict(type='TokenizerFeatures', tokenizer=cfg.model.tokenizer,
                                                              grid=4)
    training = DATASETS.build(load('shapes_grpo_t2i').train_dataloader.dataset)
    reference = load('shapes_grpo_t2i_caption_fid').model.reward.rewards[1].reference
    import projects.shapes_world.shapes_world.prompt_scenes  # noqa: F401 (registers ShapesPromptScenes)
    assert DATASETS.build(reference).prompts == [training[i]['prompt'] for i in range(len(training))]
    c2i = load('shapes_grpo_class_fid').model.reward.rewards[1]
    assert list(c2i.class_names) == class_names() and c2i.template == 'a {}'
    world = DATASETS.build(c2i.reference)
    counts = np.bincount([world.scene(i)[1] for i in range(len(world))], minlength=12)
    assert counts.min() >= 50  # every class, with enough real images for its statistics
