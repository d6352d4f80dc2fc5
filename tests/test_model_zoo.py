"""The shapes world's model zoo: the shipped files as their manifest describes them, read by the
library's loaders, and a clear error for a missing, truncated or changed file."""
import hashlib
import json
import os.path as osp
import runpy
import shutil

import pytest
import torch

from projects.shapes_world.shapes_world import model_zoo

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = runpy.run_path(osp.join(ROOT, 'tools', 'demo.py'))


def test_the_zoo_ships_every_file_the_demo_reads_intact_and_small():
    files = sorted({file for task in DEMO['TASKS'].values() for file in DEMO['task_files'](task)})
    manifest = model_zoo.read_manifest(model_zoo.ZOO_DIR)
    assert sorted(manifest) == files
    model_zoo.check(model_zoo.ZOO_DIR, files, 'remake')
    for entry in manifest.values():  # provenance of each file
        assert entry['command'].startswith('python tools/demo.py --from-scratch --task ')
        assert entry['cpu'] and entry['seconds'] > 0
        assert entry['config'] is None or osp.isfile(osp.join(ROOT, entry['config']))
    assert sum(entry['bytes'] for entry in manifest.values()) <= 30 * 2 ** 20


def test_the_shipped_files_load_through_the_real_loaders():
    from argrpo.registry import TOKENIZERS
    zoo = model_zoo.ZOO_DIR
    gpt = torch.load(osp.join(zoo, 'gpt', 'gpt.pt'), weights_only=True)['model']  # LlamaGen's layout
    assert 'tok_embeddings.weight' in gpt and 'cls_embedding.embedding_table.weight' in gpt
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'projects', 'shapes_world', 'configs', '_base_', 'models', 'shapes_vq.py'))
    vq = TOKENIZERS.build(dict(cfg.model.tokenizer, checkpoint=osp.join(zoo, 'vq', 'vq.pt')))
    codes = vq.encode(torch.zeros(1, 3, 32, 32))
    assert codes.shape[-1] == 64 and int(codes.max()) < 128


@pytest.fixture
def zoo(tmp_path):
    (tmp_path / 'gpt').mkdir()
    (tmp_path / 'gpt' / 'gpt.pt').write_bytes(b'weights' * 100)
    (tmp_path / 'real.npz').write_bytes(b'images' * 10)
    for file in ('gpt/gpt.pt', 'real.npz'):
        model_zoo.record(str(tmp_path), file, config=None, command='python tools/demo.py --from-scratch --task c2i',
                         cpu='cpu', seconds=1.0)
    return tmp_path


def test_record_writes_size_and_sha256(zoo):
    manifest = json.loads((zoo / 'manifest.json').read_text())
    entry = next(e for e in manifest['files'] if e['file'] == 'gpt/gpt.pt')
    assert entry['bytes'] == 700 and entry['sha256'] == hashlib.sha256(b'weights' * 100).hexdigest()
    model_zoo.check(str(zoo), ['gpt/gpt.pt', 'real.npz'], 'remake')


@pytest.mark.parametrize('damage, problem', [
    (lambda path: path.unlink(), 'missing'),
    (lambda path: path.write_bytes(path.read_bytes()[:100]), 'truncated or changed: 100 bytes, the manifest says 700'),
    (lambda path: path.write_bytes(b'W' + path.read_bytes()[1:]), "changed: its sha256 is not the manifest's"),
])
def test_a_damaged_file_is_an_error_naming_it_and_the_command_that_remakes_it(zoo, damage, problem):
    damage(zoo / 'gpt' / 'gpt.pt')
    with pytest.raises(model_zoo.ModelZooError) as error:
        model_zoo.check(str(zoo), ['real.npz', 'gpt/gpt.pt'], 'python tools/demo.py --from-scratch --task c2i')
    message = str(error.value)
    assert osp.join(str(zoo), 'gpt', 'gpt.pt') in message and problem in message
    assert 'python tools/demo.py --from-scratch --task c2i' in message
    with pytest.raises(model_zoo.ModelZooError, match='not listed in'):
        model_zoo.check(str(zoo), ['clip/clip.pth'], 'remake')


def test_the_demo_refuses_a_damaged_zoo_before_training(tmp_path):
    zoo = tmp_path / 'zoo'
    shutil.copytree(model_zoo.ZOO_DIR, zoo)
    with open(zoo / 'gpt' / 'gpt.pt', 'r+b') as f:
        f.truncate(1000)
    with pytest.raises(model_zoo.ModelZooError, match=r'gpt\.pt: truncated.*--from-scratch --task c2i'):
        DEMO['main'](['--work-dir', str(tmp_path / 'run'), '--models', str(zoo)])
    assert not (tmp_path / 'run' / 'grpo_c2i_seed0').exists()
