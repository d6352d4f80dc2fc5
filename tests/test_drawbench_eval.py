"""DrawBench in one command: tools/test.py with configs/evaluation/drawbench_llamagen-xl_t2i_256.py
on a stand-in prompt file, tiny models in each reward's real file format (ImageReward served by
a reward server with the stand-in package), prints the five scores with standard errors."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from argrpo_testing import TINY_VQ, randomize
from t2i_reward_files import aesthetic_head, save_image_reward, save_pickscore

from argrpo.registry import GENERATORS, REWARDS, TOKENIZERS
from argrpo.services import BackgroundServer, create_app
from argrpo.utils import create_open_clip, from_uint8

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'evaluation', 'drawbench_llamagen-xl_t2i_256.py')
ARCH = 'ViT-S-32-alt'  # the smallest open_clip architecture open_clip knows in any process
PROMPTS = ['a red cube on a blue sphere', 'two dogs', 'a sign that says hello']
SCORES = ('clip', 'hps', 'pickscore', 'imagereward', 'aesthetic')


@pytest.mark.slow
def test_drawbench_config_prints_five_scores_with_standard_errors(tmp_path, monkeypatch):
    monkeypatch.delenv('ARGRPO_REWARD_TOKEN', raising=False)
    clip_state = create_open_clip(ARCH).state_dict()
    torch.save(clip_state, tmp_path / 'open_clip.bin')
    torch.save({'state_dict': clip_state}, tmp_path / 'HPS_v2.1_compressed.pt')
    torch.save(aesthetic_head(clip_state['text_projection'].shape[1]), tmp_path / 'aesthetic.pth')
    pickscore, processor = save_pickscore(tmp_path)
    image_reward = save_image_reward(tmp_path)
    (tmp_path / 'prompts.txt').write_text('\n'.join(PROMPTS) + '\n')
    caption_dim = clip_state['ln_final.weight'].shape[0]
    gpt = dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32, vocab_size=64, block_size=16,
               model_type='t2i', caption_dim=caption_dim, cls_token_num=77)
    torch.save({'model': randomize(GENERATORS.build(gpt), std=0.2).state_dict()}, tmp_path / 'gpt.pt')
    torch.save({'model': randomize(TOKENIZERS.build(TINY_VQ), std=0.2).state_dict()}, tmp_path / 'vq.pt')
    config = tmp_path / 'tiny_drawbench.py'
    config.write_text(f'''_base_ = [{CONFIG!r}]
model = dict(generator=dict(_delete_=True, **{gpt!r}),
             tokenizer=dict(_delete_=True, checkpoint={str(tmp_path / 'vq.pt')!r}, **{TINY_VQ!r}),
             text_encoder=dict(_delete_=True, type='CLIPTextEncoder', arch={ARCH!r},
                               checkpoint={str(tmp_path / 'open_clip.bin')!r}),
             reward=dict(_delete_=True, type='GradientReward'))
test_dataloader = dict(batch_size=4)
''')
    clip = str(tmp_path / 'open_clip.bin')
    options = {'test_dataloader.dataset.path': str(tmp_path / 'prompts.txt'),
               'test_evaluator.0.reward.arch': ARCH, 'test_evaluator.0.reward.checkpoint': clip,
               'test_evaluator.1.reward.arch': ARCH,
               'test_evaluator.1.reward.checkpoint': str(tmp_path / 'HPS_v2.1_compressed.pt'),
               'test_evaluator.2.reward.path': pickscore, 'test_evaluator.2.reward.processor': processor,
               'test_evaluator.4.reward.arch': ARCH, 'test_evaluator.4.reward.clip_checkpoint': clip,
               'test_evaluator.4.reward.checkpoint': str(tmp_path / 'aesthetic.pth')}
    served = REWARDS.build(dict(type='ImageReward', name='imagereward', **image_reward))
    with BackgroundServer(create_app(served)) as server:
        options['test_evaluator.3.reward.url'] = server.url
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), str(config), str(tmp_path / 'gpt.pt'),
               '--work-dir', str(tmp_path / 'work'), '--out', 'samples.npz',
               '--cfg-options'] + [f'{key}={value}' for key, value in options.items()]
        proc = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
                              timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((tmp_path / 'work' / 'metrics.json').read_text())
    expected = {f'{score}/{score}_{stat}' for score in SCORES for stat in ('mean', 'std', 'sem')}
    assert set(metrics) - {'samples/count'} == expected, sorted(metrics)
    output = proc.stdout + proc.stderr
    for key in expected:
        assert f'| {key} |' in output, key
    assert re.search(r'\] 3/3, [\d.]+ task/s', output)  # the progress bar: 3 batches of 4 images
    # the served score of the saved samples, recomputed here: its mean, and its standard error
    samples = np.load(tmp_path / 'work' / 'samples.npz')['arr_0']
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(len(samples))]
    scores = served(from_uint8(samples), prompts).double()
    assert metrics['imagereward/imagereward_mean'] == pytest.approx(scores.mean().item(), rel=1e-4, abs=1e-5)
    assert metrics['imagereward/imagereward_sem'] == pytest.approx(scores.std().item() / len(scores) ** 0.5,
                                                                   rel=1e-3, abs=1e-6)
