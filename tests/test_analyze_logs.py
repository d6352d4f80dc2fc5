"""Scalars read back from MMEngine json logs and plotted by tools/analyze_logs.py."""
import json
import os.path as osp
import runpy

import pytest

from argrpo.apis.log_analysis import read_scalars

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def write_log(work_dir, lines, stamp='20260101_000000'):
    path = work_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(line) for line in lines) + '\n')
    return path


@pytest.fixture
def main():
    return runpy.run_path(osp.join(ROOT, 'tools', 'analyze_logs.py'))['main']


def test_read_scalars_takes_training_and_evaluation_lines_in_step_order(tmp_path):
    write_log(tmp_path, [{'lr': 1e-4, 'reward': 0.75, 'iter': 20, 'step': 20, 'mode': 'train'},  # out of step order
                         {'FID': 3.0, 'step': 25},
                         {'lr': 1e-4, 'reward': 0.5, 'iter': 10, 'step': 10}])
    write_log(tmp_path, [{'reward': 9.0, 'step': 1}], stamp='20250101_000000')  # older run: not read
    series = read_scalars(str(tmp_path))
    assert series['reward'] == [(10, 0.5), (20, 0.75)]
    assert series['FID'] == [(25, 3.0)]
    assert 'mode' not in series and 'iter' not in series and 'step' not in series


def test_plot_curve_writes_an_image_of_several_runs(tmp_path, main, capsys):
    first = write_log(tmp_path / 'a', [{'reward': r, 'step': s} for s, r in ((1, 0.1), (2, 0.3), (3, 0.2))])
    write_log(tmp_path / 'b', [{'reward': 0.2, 'kl': 0.01, 'step': 1}])
    out = tmp_path / 'curves.png'
    main(['plot_curve', str(first), str(tmp_path / 'b'), '--keys', 'reward', '--legend', 'a', 'b',
          '--out', str(out)])
    from PIL import Image
    image = Image.open(out)
    assert image.size[0] > 200 and image.size[1] > 200
    main(['list', str(tmp_path / 'b')])
    assert 'kl: 1 points, last 0.01 at step 1' in capsys.readouterr().out


def test_clear_errors(tmp_path, main):
    write_log(tmp_path, [{'reward': 0.1, 'step': 1}])
    with pytest.raises(KeyError, match=r"\['FID'\] not in the logs; logged: reward"):
        main(['plot_curve', str(tmp_path), '--keys', 'FID', '--out', str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit):  # one legend for two runs
        main(['plot_curve', str(tmp_path), str(tmp_path), '--keys', 'reward', '--legend', 'a'])
    with pytest.raises(FileNotFoundError, match='no json log in'):
        main(['list', str(tmp_path / 'nothing')])
    (tmp_path / 'bad.json').write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ValueError, match='line 2: not json'):
        read_scalars(str(tmp_path / 'bad.json'))
