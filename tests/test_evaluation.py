"""Evaluation: feature extractors from local files, references and their errors, the metrics on
known cases, batch-independent samples, tools/test.py and its 2-process sharding."""
import json
import os
import os.path as osp
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import torch
from argrpo_testing import TINY_VQ, randomize
from mmengine.config import Config
from PIL import Image

from argrpo import apis
from argrpo.evaluation import DistributionMetrics, RewardMetric, group_diversity, inception_score, load_reference
from argrpo.evaluation import reference as reference_module
from argrpo.registry import FEATURE_EXTRACTORS, GENERATORS, MODELS, TOKENIZERS
from argrpo.rewards import GradientReward

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py')


def save_timm(path, seed=0):
    import timm
    torch.manual_seed(seed)
    torch.save(timm.create_model('test_resnet', pretrained=False, num_classes=5).state_dict(), path)
    return str(path)


def timm_cfg(checkpoint):
    return dict(type='TimmFeatures', model_name='test_resnet', checkpoint=checkpoint,
                model_options=dict(num_classes=5), image_size=64)


@pytest.fixture
def timm_file(tmp_path):
    return save_timm(tmp_path / 'test_resnet.pth')


def random_images(n, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def as_tensor(images):
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_fid_inception_reads_the_pytorch_fid_weights_file(tmp_path):
    import pyiqa.archs.inception as inception
    with mock.patch.object(inception, 'load_pretrained_network', lambda *a, **k: None):
        net = inception.fid_inception_v3()
    path = tmp_path / 'pt_inception-2015-12-05-6726825d.pth'
    torch.save(net.state_dict(), path)  # the release file is a plain state dict
    with pytest.raises(FileNotFoundError, match='pt_inception-2015-12-05'):
        FEATURE_EXTRACTORS.build(dict(type='FIDInception', checkpoint=str(tmp_path / 'absent.pth')))
    extractor = FEATURE_EXTRACTORS.build(dict(type='FIDInception', checkpoint=str(path)))
    for a, b in zip(extractor.net.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
    out = extractor(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert out['pool'].shape == (2, 2048) and out['spatial'].shape == (2, 7 * 17 * 17)
    torch.testing.assert_close(out['logits'], out['pool'] @ net.fc.weight.T)
    assert extractor.identity.startswith('FIDInception@')
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path / 'wrong.pth')
    with pytest.raises(RuntimeError, match='does not fit'):
        FEATURE_EXTRACTORS.build(dict(type='FIDInception', checkpoint=str(tmp_path / 'wrong.pth')))


def test_reference_images_are_featurised_once_from_npz_or_folder(tmp_path, timm_file):
    extractor = FEATURE_EXTRACTORS.build(timm_cfg(timm_file))
    images = random_images(12)
    np.savez(tmp_path / 'ref.npz', arr_0=images)
    (tmp_path / 'folder').mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / 'folder' / f'{i:03d}.png')
    from_npz = load_reference(str(tmp_path / 'ref.npz'), extractor, batch_size=5)
    from_folder = load_reference(str(tmp_path / 'folder'), extractor, cache_dir=str(tmp_path / 'cache'))
    expected = extractor(as_tensor(images))['pool'].numpy()
    np.testing.assert_allclose(from_npz.pool, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(from_folder.pool, expected, rtol=1e-4, atol=1e-5)
    assert len(os.listdir(tmp_path / 'cache')) == 1
    with mock.patch.object(reference_module, 'compute_features', side_effect=AssertionError('recomputed')):
        cached = load_reference(str(tmp_path / 'ref.npz'), extractor)
    np.testing.assert_array_equal(cached.pool, from_npz.pool)


def test_reference_errors_name_the_problem(tmp_path, timm_file):
    extractor = FEATURE_EXTRACTORS.build(timm_cfg(timm_file))
    with pytest.raises(FileNotFoundError, match='absent.npz'):
        load_reference(str(tmp_path / 'absent.npz'), extractor)
    other = FEATURE_EXTRACTORS.build(timm_cfg(save_timm(tmp_path / 'other.pth', seed=1)))
    np.savez(tmp_path / 'ref.npz', arr_0=random_images(6))
    load_reference(str(tmp_path / 'ref.npz'), other)  # cached with the other extractor's identity
    cache = next(p for p in os.listdir(tmp_path) if p.startswith('ref.') and p != 'ref.npz')
    with pytest.raises(ValueError, match='different|not comparable'):
        load_reference(str(tmp_path / cache), extractor)
    np.savez(tmp_path / 'stats.npz', mu=np.zeros(2048), sigma=np.eye(2048))
    with pytest.raises(ValueError, match='FID Inception'):
        load_reference(str(tmp_path / 'stats.npz'), extractor)
    np.savez(tmp_path / 'junk.npz', x=np.zeros(3))
    with pytest.raises(ValueError, match='not a reference'):
        load_reference(str(tmp_path / 'junk.npz'), extractor)
    # statistics of the wrong dimension (with an extractor that accepts bare statistics)
    metric = DistributionMetrics(timm_cfg(timm_file), reference=str(tmp_path / 'stats.npz'), metrics=['fid'])
    metric.extractor.identity = 'FIDInception@pretend'
    with pytest.raises(ValueError, match='2048-d pool features.*gives 96'):
        metric.compute_metrics([{'pool': np.random.rand(96)} for _ in range(4)])
    with pytest.raises(ValueError, match='needs'):
        DistributionMetrics(timm_cfg(timm_file), reference=str(tmp_path / 'ref.npz'), metrics=['sfid'])
    with pytest.raises(ValueError, match='reference='):
        DistributionMetrics(timm_cfg(timm_file), metrics=['fid'])


def test_distribution_metrics_on_known_cases(tmp_path, timm_file):
    images = random_images(40, seed=2)
    np.savez(tmp_path / 'ref.npz', arr_0=images)
    metric = DistributionMetrics(timm_cfg(timm_file), reference=str(tmp_path / 'ref.npz'),
                                 metrics=['fid', 'IS', 'precision', 'recall', 'diversity'])
    prompts = [f'p{i % 4}' for i in range(len(images))]

    def evaluate(samples):
        metric.results = []
        for start in range(0, len(samples), 16):
            metric.process({}, [dict(image=x, prompt=p) for x, p in
                                zip(as_tensor(samples[start:start + 16]), prompts[start:start + 16])])
        return metric.compute_metrics(metric.results)

    same = evaluate(images)  # the reference against itself
    assert same['FID'] == pytest.approx(0, abs=1e-6)
    assert same['precision'] == 1.0 and same['recall'] == 1.0
    logits = metric.extractor(as_tensor(images))['logits'].numpy()
    assert same['IS'] == pytest.approx(inception_score(logits)[0], rel=1e-5)
    pool = metric.extractor(as_tensor(images))['pool'].numpy()
    assert same['diversity'] == pytest.approx(group_diversity(pool, prompts), rel=1e-5)
    shifted = evaluate(255 - images // 4)  # darker, inverted images
    assert shifted['FID'] > 0.1 and shifted['precision'] < 1.0, shifted


def test_reward_metric_reports_each_component():
    metric = RewardMetric(dict(type='WeightedSum', rewards=[dict(type='GradientReward')]))
    images = torch.rand(6, 3, 8, 8) * 2 - 1
    metric.process({}, [dict(image=x, prompt='') for x in images])
    out = metric.compute_metrics(metric.results)
    expected = GradientReward()(images, [''] * 6).double()
    assert out['gradient_mean'] == pytest.approx(expected.mean().item(), rel=1e-5)
    assert out['gradient_std'] == pytest.approx(expected.std(unbiased=False).item(), rel=1e-4)
    # the standard error of the mean: the sample std over sqrt(n)
    assert out['gradient_sem'] == pytest.approx(expected.std(unbiased=True).item() / 6 ** 0.5, rel=1e-4)
    # keys: only the components named
    only = RewardMetric(dict(type='GradientReward'), keys=['a'])
    assert only.compute_metrics([dict(a=1.0, b=2.0), dict(a=3.0, b=5.0)]) == dict(a_mean=2.0, a_std=1.0, a_sem=1.0)
    with pytest.raises(KeyError, match="'absent'"):
        RewardMetric(dict(type='GradientReward'), keys=['absent']).compute_metrics(metric.results)


def tiny_model():
    cfg = Config.fromfile(TINY_CONFIG).model
    model = MODELS.build(cfg)
    randomize(model.policy, std=0.2)
    return model


def test_evaluation_samples_do_not_depend_on_batching():
    model = tiny_model()
    data = dict(cond=[0, 1, 2, 3], prompt=list('abcd'), index=[10, 11, 12, 13])
    whole = torch.stack([s['image'] for s in model.val_step(data)])
    halves = [model.val_step({k: v[s] for k, v in data.items()}) for s in (slice(0, 2), slice(2, 4))]
    torch.testing.assert_close(whole, torch.stack([s['image'] for h in halves for s in h]))
    other = torch.stack([s['image'] for s in model.val_step(dict(data, index=[20, 21, 22, 23]))])
    assert not torch.equal(whole, other)


@pytest.fixture
def eval_setup(tmp_path, timm_file):
    """A tiny generator file (LlamaGen layout), VQ file, real-image reference and test config."""
    gpt = GENERATORS.build(Config.fromfile(TINY_CONFIG).model.generator)
    randomize(gpt, std=0.2)
    torch.save({'model': gpt.state_dict()}, tmp_path / 'gpt.pt')
    vq = randomize(TOKENIZERS.build(dict(TINY_VQ, codebook_size=8)), std=0.2)
    torch.save({'model': vq.state_dict()}, tmp_path / 'vq.pt')
    np.savez(tmp_path / 'ref.npz', arr_0=random_images(20, size=8))
    config = tmp_path / 'eval_config.py'
    config.write_text(f'''_base_ = [{TINY_CONFIG!r}]
model = dict(tokenizer=dict(checkpoint={str(tmp_path / 'vq.pt')!r}))
test_dataloader = dict(batch_size=3, dataset=dict(classes=[0, 1, 2], repeat=5))  # 15 items
test_evaluator = [
    dict(type='DistributionMetrics', feature_extractor={timm_cfg(timm_file)!r},
         reference={str(tmp_path / 'ref.npz')!r}, metrics=['fid', 'IS', 'precision', 'recall']),
    dict(type='RewardMetric', reward=dict(type='GradientReward'))]
''')
    return tmp_path, str(config)


@pytest.mark.slow
def test_test_tool_and_two_process_sharding_agree(eval_setup):
    tmp_path, config = eval_setup
    env = dict(os.environ, PORT='29613', PYTHONPATH=ROOT)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), config, str(tmp_path / 'gpt.pt'),
           '--work-dir', str(tmp_path / 'one'), '--out', 'samples.npz']
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ('metrics.json', 'metrics.md', 'samples_grid.png', 'samples.npz'):
        assert osp.isfile(tmp_path / 'one' / name), name
    samples = np.load(tmp_path / 'one' / 'samples.npz')['arr_0']
    assert samples.shape == (15, 8, 8, 3) and samples.dtype == np.uint8
    one = json.loads((tmp_path / 'one' / 'metrics.json').read_text())
    assert {'FID', 'IS', 'precision', 'recall', 'reward/gradient_mean'} <= set(one)
    assert '| reward/gradient_mean |' in (tmp_path / 'one' / 'metrics.md').read_text()

    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), config, str(tmp_path / 'gpt.pt'), '2',
           '--work-dir', str(tmp_path / 'two'), '--out', 'samples.npz']
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / 'two' / 'samples.npz')['arr_0'], samples)
    two = json.loads((tmp_path / 'two' / 'metrics.json').read_text())
    assert two.keys() == one.keys()
    for key in one:
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key


def test_test_tool_loads_run_checkpoints_strictly(eval_setup):
    tmp_path, config = eval_setup
    model = MODELS.build(Config.fromfile(config).model)
    state = model.state_dict()
    state.pop(next(k for k in state if k.startswith('policy.')))
    torch.save({'meta': {}, 'state_dict': state}, tmp_path / 'run.pth')
    cfg = apis.evaluation_config(apis.load_config(config, {'experiment_name': 'eval_strict'}, str(tmp_path / 'w')))
    with pytest.raises(RuntimeError, match='[Mm]issing'):
        apis.evaluate(cfg, str(tmp_path / 'run.pth'))
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        apis.evaluate(cfg, str(tmp_path / 'absent.pth'))


def test_tokenizer_features_are_the_codebook_vectors_pooled_to_a_layout(tmp_path):
    vq = randomize(TOKENIZERS.build(TINY_VQ), std=0.1)
    torch.save({'model': vq.state_dict()}, tmp_path / 'vq.pt')
    extractor = FEATURE_EXTRACTORS.build(dict(type='TokenizerFeatures', grid=2,
                                              tokenizer=dict(TINY_VQ, checkpoint=str(tmp_path / 'vq.pt'))))
    images = torch.rand(3, 3, 16, 16) * 2 - 1  # an 8 x 8 grid of codes
    pool = extractor(images)['pool']
    # independently: the codes of the uint8-rounded images, their codebook vectors, means of 4 x 4 blocks
    codes = vq.encode(((images + 1) * 127.5).round() / 127.5 - 1).view(3, 8, 8)
    embeddings = vq.quantize.codebook()[codes]  # [3, 8, 8, 4]
    blocks = embeddings.view(3, 2, 4, 2, 4, 4).mean(dim=(2, 4))  # [3, 2 (rows), 2 (columns), 4]
    assert pool.shape == (3, 4 * 2 * 2)
    torch.testing.assert_close(pool, blocks.permute(0, 3, 1, 2).flatten(1), rtol=1e-5, atol=1e-6)
    assert extractor(torch.rand(2, 3, 32, 32) * 2 - 1)['pool'].shape == (2, 4 * 2 * 2)  # any image size
    assert extractor.identity.startswith('tokenizer:LlamaGenVQ:grid2@')
    with pytest.raises(FileNotFoundError, match='tokenizer.*file not found.*missing.pt.*checkpoint='):
        FEATURE_EXTRACTORS.build(dict(type='TokenizerFeatures', tokenizer=dict(TINY_VQ, checkpoint='missing.pt')))
