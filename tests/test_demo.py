"""The demo: GRPO on the shipped models moves the samples the way the README says (run as the
command line runs it), --from-scratch trains every stage and exports files that load, the
before/after picture and the table of variants over seeds."""
import json
import os.path as osp
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from projects.shapes_world.shapes_world.figures import before_after_image

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def demo():
    return runpy.run_path(osp.join(ROOT, 'tools', 'demo.py'))


def run_demo(work_dir, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'demo.py'), '--work-dir', str(work_dir), *args],
                          capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def short_dir() -> Iterator[Path]:
    """A fresh work dir with a short path. MMEngine formats every config it logs or dumps with
    yapf, whose search grows quickly with line length; the configs hold the work dir's paths, and
    under pytest's long temporary paths formatting took most of a run (from-scratch smoke: 125 s
    against 40 s here)."""
    path = tempfile.mkdtemp(prefix='argrpo-')
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='module')
def demo_dir():
    """One work dir for the runs on the shipped models: a variant reuses the baseline's
    evaluation before GRPO, as ``tools/demo.py --variant`` does in a user's work dir."""
    yield from short_dir()


@pytest.fixture
def work_dir():
    yield from short_dir()


@pytest.mark.slow
def test_demo_on_the_shipped_models_raises_the_held_out_accuracy(demo_dir):
    """``python tools/demo.py``, the README's main command, on the model zoo."""
    proc = run_demo(demo_dir)
    results = json.loads((demo_dir / 'results_c2i_seed0.json').read_text())
    before, after = results['before'], results['after']
    for name in ('results_c2i_seed0.md', 'before_after_c2i_seed0.png', 'curves_c2i_seed0.png',
                 'eval_c2i_before/samples_grid.png', 'eval_c2i_seed0/samples_grid.png'):
        assert osp.isfile(demo_dir / name), name
    assert '| held-out classifier accuracy |' in proc.stdout
    # what README / docs/results/demo.md claim for the shipped models (Intel Xeon, 2 cores, GRPO seeds 0 / 1 / 2,
    # 240 samples): reward 1.51 -> 1.83 / 1.85 / 1.87, held-out accuracy 0.692 -> 0.800 / 0.788 / 0.796 (one
    # standard error of an accuracy near 0.75 on 240 samples: 0.028); the margins leave room for other CPUs' digits
    assert after['reward/total_mean'] > before['reward/total_mean'] + 0.15, (before, after)
    assert after['heldout/accuracy_mean'] > before['heldout/accuracy_mean'] + 0.05, (before, after)


@pytest.mark.slow
def test_group_diversity_reward_holds_the_diversity_that_plain_grpo_loses(demo_dir):
    """``--variant group-diversity`` against the baseline run above (same models, seed and work
    dir): plain GRPO collapses each class's samples, the group diversity reward keeps them about as
    varied as the SFT model's while the reward still rises (docs/results/demo.md: diversity 0.194
    before, 0.128 / 0.122 / 0.146 after plain GRPO, 0.232 / 0.231 / 0.193 with the reward, seeds
    0 / 1 / 2; reward 1.51 -> 1.69 / 1.70 / 1.71)."""
    if not (demo_dir / 'results_c2i_seed0.json').is_file():
        run_demo(demo_dir)
    run_demo(demo_dir, '--variant', 'group-diversity')
    baseline = json.loads((demo_dir / 'results_c2i_seed0.json').read_text())['after']
    results = json.loads((demo_dir / 'results_c2i_group_diversity_seed0.json').read_text())
    before, after = results['before'], results['after']
    assert after['diversity'] > baseline['diversity'] + 0.04, (baseline, after)
    assert after['diversity'] > 0.9 * before['diversity'], (before, after)
    assert after['reward/total_mean'] > before['reward/total_mean'] + 0.1, (before, after)


@pytest.mark.slow
def test_from_scratch_trains_every_stage_and_its_files_load(work_dir, demo):
    """--from-scratch, shortened: each stage of both tasks trains 2 iterations, is recorded in the work
    dir's manifest and read back by the next stages and GRPO through the real loaders."""
    short = ['--work-dir', str(work_dir), '--from-scratch', '--stage-iters', '2', '--grpo-iters', '2',
             '--cfg-options', 'test_dataloader.dataset.repeat=2', 'val_dataloader.dataset.repeat=2']
    demo['main'](short)
    demo['main'](short + ['--task', 't2i'])
    manifest = json.loads((work_dir / 'manifest.json').read_text())
    files = {entry['file']: entry for entry in manifest['files']}
    assert sorted(files) == sorted({f for task in demo['TASKS'].values() for f in demo['task_files'](task)})
    assert files['gpt/gpt.pt']['command'] == 'python tools/demo.py --from-scratch --task c2i --stage-iters 2'
    assert files['gpt_t2i/gpt.pt']['config'] == 'projects/shapes_world/configs/shapes_gpt_t2i.py'
    vq = torch.load(work_dir / 'vq' / 'vq.pt', weights_only=True)['model']  # LlamaGen's layouts
    gpt = torch.load(work_dir / 'gpt_t2i' / 'gpt.pt', weights_only=True)['model']
    assert 'quantize.embedding.weight' in vq and 'cls_embedding.cap_proj.fc1.weight' in gpt
    for name in ('results_c2i_seed0.json', 'results_t2i_seed0.json', 'before_after_t2i_seed0.png',
                 'curves_t2i_seed0.png'):
        assert osp.isfile(work_dir / name), name
    # a second run reuses every stage (listed intact in the manifest) and the finished GRPO run
    stamp = (work_dir / 'gpt' / 'gpt.pt').stat().st_mtime_ns
    demo['main'](short)
    assert (work_dir / 'gpt' / 'gpt.pt').stat().st_mtime_ns == stamp
    # the shipped models in this work dir would reuse runs of other models: refused before any work
    with pytest.raises(SystemExit, match='grpo_c2i_seed0 was made from other supervised models'):
        demo['main'](['--work-dir', str(work_dir)])


def test_figure_rows_take_each_prompts_first_samples(demo):
    dataset = [dict(prompt=p) for p in 'abcabcabc']
    assert demo['figure_rows'](dataset, 2, 2) == ([[0, 3], [1, 4]], ['a', 'b'])
    consecutive = [dict(prompt=p) for p in 'aaabbbccc']
    assert demo['figure_rows'](consecutive, 3, 1) == ([[0], [3], [6]], ['a', 'b', 'c'])


def test_before_after_image_puts_the_same_samples_side_by_side():
    rng = np.random.default_rng(0)
    before, after = (rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8) for _ in range(2))
    image = before_after_image(before, after, [[0, 2], [5, 1]], ['x', 'y'], scale=2, gap=1)
    # locate the first tile: the top-left 8 x 8 block equal to before[0] enlarged
    tile = np.kron(before[0], np.ones((2, 2, 1), np.uint8))
    hits = [(y, x) for y in range(image.shape[0] - 7) for x in range(image.shape[1] - 7)
            if np.array_equal(image[y:y + 8, x:x + 8], tile)]
    assert len(hits) == 1
    top, left = hits[0]
    block = 2 * (8 + 1)  # two samples of 8 px and their gaps
    assert np.array_equal(image[top:top + 8, left + 9:left + 17], np.kron(before[2], np.ones((2, 2, 1), np.uint8)))
    after_left = left + block + 16  # the gap between before and after
    assert np.array_equal(image[top + 9:top + 17, after_left + 9:after_left + 17],
                          np.kron(after[1], np.ones((2, 2, 1), np.uint8)))
    with pytest.raises(ValueError, match='differ in shape'):
        before_after_image(before, after[:3], [[0]], ['x'])
    with pytest.raises(ValueError, match='2 rows but 1 labels'):
        before_after_image(before, after, [[0], [1]], ['x'])


def test_table_gives_each_variant_mean_and_standard_error_over_seeds(tmp_path, demo):
    main = demo['main']

    def metrics(acc, fid):
        return {'heldout/accuracy_mean': acc, 'FID': fid, 'diversity': 0.1, 'reward/total_mean': 1.0}

    def write(name, variant, scale, seed, after, before=None, cpu='cpu A, 2 cores, 2 torch threads', models='zoo'):
        before = before or (metrics(0.7, 3.0) if scale == 1 else metrics(0.75, 4.5))
        (tmp_path / name).write_text(json.dumps(dict(task='c2i', variant=variant, seed=seed, cfg_scale=scale,
                                                      models=models, grpo_iters=None, cpu=cpu, before=before,
                                                      after=after)))

    write('results_c2i_seed1.json', 'baseline', 1.0, 1, metrics(0.90, 6.0))
    write('results_c2i_seed0.json', 'baseline', 1.0, 0, metrics(0.80, 4.0), cpu='cpu A, 2 cores, 1 torch thread')
    write('results_c2i_guided_seed0.json', 'guided', 2.0, 0, metrics(0.85, 5.0))
    (tmp_path / 'results_c2i_seed7.json').write_text(json.dumps(dict(before={}, after={})))  # older: left out
    main(['--work-dir', str(tmp_path), '--table'])
    lines = (tmp_path / 'demo_c2i.md').read_text().splitlines()
    assert lines[0].startswith('| model | CFG | GPT passes per token | GRPO seeds | held-out accuracy | FID |')
    # the sample standard deviation over sqrt(n): 0.0707 / sqrt(2) = 0.05 and 1.414 / sqrt(2) = 1
    assert lines[2:] == ['| SFT | 1 | 1 | - | 0.700 | 3.000 | 0.100 | 1.000 |',
                         '| SFT | 2 | 2 | - | 0.750 | 4.500 | 0.100 | 1.000 |',
                         '| GRPO baseline | 1 | 1 | 0, 1 | 0.850 ± 0.050 | 5.000 ± 1.000 | 0.100 ± 0.000 | '
                         '1.000 ± 0.000 |',
                         '| GRPO guided | 2 | 2 | 0 | 0.850 | 5.000 | 0.100 | 1.000 |']
    # runs that are not comparable are refused, not averaged
    write('results_c2i_guided_seed1.json', 'guided', 2.0, 1, metrics(0.85, 5.0), before=metrics(0.7, 9.0))
    with pytest.raises(ValueError, match='SFT model at CFG 2 was evaluated differently'):
        main(['--work-dir', str(tmp_path), '--table'])
    write('results_c2i_guided_seed1.json', 'guided', 2.0, 1, metrics(0.85, 5.0), cpu='cpu B, 2 cores, 2 torch threads')
    with pytest.raises(ValueError, match='different CPUs.*cpu B'):
        main(['--work-dir', str(tmp_path), '--table'])
    write('results_c2i_guided_seed1.json', 'guided', 2.0, 1, metrics(0.85, 5.0), models='other')
    with pytest.raises(ValueError, match='different CPUs, models.*other'):
        main(['--work-dir', str(tmp_path), '--table'])
    with pytest.raises(SystemExit, match='distribution-clip is not defined for --task t2i'):
        main(['--work-dir', str(tmp_path), '--task', 't2i', '--variant', 'distribution-clip'])
    with pytest.raises(FileNotFoundError, match='no results_t2i_'):
        main(['--work-dir', str(tmp_path), '--task', 't2i', '--table'])


def test_bad_arguments_are_refused(demo):
    for argv in (['--stage-iters', '3'], ['--from-scratch', '--stage-iters', '0'], ['--grpo-iters', '-1']):
        with pytest.raises(SystemExit):
            demo['main'](argv)
