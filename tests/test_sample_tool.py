"""tools/sample.py's main with a command line (in this process): the files hold what the generation
path draws for the seed."""
import os.path as osp
import runpy

import numpy as np
import pytest
import torch
from argrpo_testing import TINY_GPT, TINY_VQ, randomize
from PIL import Image

from argrpo.registry import GENERATORS, TOKENIZERS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


SAMPLE_MAIN = runpy.run_path(osp.join(ROOT, 'tools', 'sample.py'))['main']


def sample(*args):
    SAMPLE_MAIN(list(map(str, args)))


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('sample')
    gpt = randomize(GENERATORS.build(TINY_GPT))
    vq = randomize(TOKENIZERS.build(TINY_VQ), std=0.1)
    torch.save({'model': gpt.state_dict()}, tmp_path / 'gpt.pt')
    torch.save({'model': vq.state_dict()}, tmp_path / 'vq.pt')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'model = dict(generator={TINY_GPT!r}, tokenizer={TINY_VQ!r}, '
                   "sampler=dict(type='TokenSampler', cfg_scale=2.0))\n")
    return tmp_path, str(cfg)


def test_sample_tool_writes_grid_and_images(tiny_config):
    tmp, cfg = tiny_config
    out = tmp / 'out'
    args = [cfg, '--gpt-ckpt', tmp / 'gpt.pt', '--vq-ckpt', tmp / 'vq.pt', '--classes', 1, 7,
            '--num-per-prompt', 3, '--batch-size', 4, '--out-dir']
    sample(*args, out)
    files = sorted((out / 'images').iterdir())
    assert [f.name for f in files] == ['00000_1.png', '00001_1.png', '00002_1.png',
                                       '00003_7.png', '00004_7.png', '00005_7.png']
    img = np.asarray(Image.open(files[0]))
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    # the file holds what the models produce for that seed: regenerate the first batch
    gpt = GENERATORS.build(dict(TINY_GPT, checkpoint=str(tmp / 'gpt.pt'))).eval()
    vq = TOKENIZERS.build(dict(TINY_VQ, checkpoint=str(tmp / 'vq.pt'))).eval()
    from argrpo.samplers import TokenSampler
    tokens = gpt.sample(torch.tensor([1, 1, 1, 7]), TokenSampler(cfg_scale=2.0),
                        generator=torch.Generator().manual_seed(0)).tokens
    expected = ((vq.decode(tokens)[0] + 1) / 2 * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(img.astype(int) - expected.astype(int)).max() <= 1
    grid_img = np.asarray(Image.open(out / 'grid.png'))
    assert grid_img.shape[0] > 8 * 2 and grid_img.shape[1] > 8 * 3
    # same seed, same images
    sample(*args, tmp / 'again')
    assert np.array_equal(img, np.asarray(Image.open(tmp / 'again' / 'images' / '00000_1.png')))


def test_sample_tool_errors(tiny_config):
    tmp, cfg = tiny_config
    (tmp / 'p.txt').write_text('a red circle\n')
    with pytest.raises(ValueError, match='need a model.text_encoder'):
        sample(cfg, '--prompts', tmp / 'p.txt', '--out-dir', tmp / 'o')
    with pytest.raises(ValueError, match=r'class ids must lie in \[0, 10\)'):
        sample(cfg, '--classes', 12, '--out-dir', tmp / 'o')
