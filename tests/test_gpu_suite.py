"""benchmarks/gpu_suite.py, the GPU figures' prepared command, run at its tiny CPU sizes so that
it cannot rot: every section ends, every stage is timed, greedy tokens agree with the LlamaGen
side, the planner's figure stands beside each measured peak.

LlamaGen's code is never in the repository: the LlamaGen side runs here against a stand-in
checkout written by the test (LlamaGen's module paths and call signatures over argrpo's GPT,
decoded without a cache), and against a real checkout where one is at hand
(``$ARGRPO_LLAMAGEN`` or ``third_party/LlamaGen``).
"""
import importlib.util
import json
import math
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SUITE = osp.join(ROOT, 'benchmarks', 'gpu_suite.py')
STAGES = ('conditions', 'rollout', 'VQ decode', 'reward', 'old log-probs', 'reference log-probs', 'updates')
RUNS = ('GPT-B c2i 256 (tiny)', 'GPT-XL t2i 256 (tiny)', 'GPT-B c2i 256, FSDP (1 process) (tiny)',
        'GPT-B c2i 256, LoRA r=32 (tiny)')

# a stand-in LlamaGen checkout: its module paths, ModelArgs fields, Transformer(config) with argrpo's
# key names, setup_caches and forward(idx, cond_idx, input_pos) -> (logits, loss) over argrpo's KV
# cache with fixed shapes (as LlamaGen's, which Dynamo captures whole), and generate's signature
STUB_GPT = '''
from dataclasses import dataclass
from argrpo.generators import LlamaGenGPT


@dataclass
class ModelArgs:
    dim: int = 4096
    n_layer: int = 32
    n_head: int = 32
    multiple_of: int = 256
    vocab_size: int = 16384
    block_size: int = 256
    num_classes: int = 1000
    cls_token_num: int = 1
    model_type: str = 'c2i'


class Transformer(LlamaGenGPT):
    def __init__(self, config):
        super().__init__(n_layer=config.n_layer, n_head=config.n_head, dim=config.dim,
                         multiple_of=config.multiple_of, vocab_size=config.vocab_size,
                         block_size=config.block_size, num_classes=config.num_classes,
                         cls_token_num=config.cls_token_num, model_type=config.model_type)

    def setup_caches(self, max_batch_size, max_seq_length, dtype):
        self.caches = self.new_caches(max_batch_size, max_seq_length)

    def forward(self, idx, cond_idx, input_pos=None):
        if cond_idx is not None:
            return self.prefill(cond_idx, None, self.caches)[:, None], None
        return self.decode_step_static(idx[:, 0], input_pos, None, self.caches)[:, None], None
'''
STUB_GENERATE = '''
import torch


@torch.no_grad()
def generate(model, cond, max_new_tokens, emb_masks=None, cfg_scale=1.0, cfg_interval=-1, **sampling_kwargs):
    assert sampling_kwargs == dict(temperature=1.0, top_k=0, top_p=1.0, sample_logits=False), sampling_kwargs
    assert model.model_type == 'c2i' and cfg_interval == -1 and emb_masks is None
    rows = torch.cat([cond, torch.full_like(cond, model.num_classes)])
    model.setup_caches(len(rows), 1 + max_new_tokens, model.tok_embeddings.weight.dtype)
    logits, _ = model(None, rows, torch.arange(1, device=cond.device))
    tokens = []
    for t in range(max_new_tokens):
        if t:
            logits, _ = model(tokens[-1].repeat(2)[:, None], None, torch.tensor([t], device=cond.device))
        c, u = logits[:, -1].chunk(2)
        tokens.append((u + cfg_scale * (c - u)).argmax(-1))
    return torch.stack(tokens, 1).int()
'''


def stub_llamagen(folder) -> str:
    models = folder / 'autoregressive' / 'models'
    models.mkdir(parents=True)
    (models / 'gpt.py').write_text(textwrap.dedent(STUB_GPT))
    (models / 'generate.py').write_text(textwrap.dedent(STUB_GENERATE))
    return str(folder)


def run_suite(tmp_path, *args) -> tuple:
    out = tmp_path / 'suite.json'
    proc = subprocess.run([sys.executable, SUITE, '--device', 'cpu', '--json', str(out), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def check_header(stdout: str, header: dict) -> None:
    line = next(line for line in stdout.splitlines() if line.startswith('argrpo GPU suite: '))
    assert f'torch {torch.__version__}' in line and 'mode cpu-tiny' in line
    assert re.search(r'\d{4}-\d\d-\d\d \d\d:\d\d UTC', line)
    assert header['device'] and header['device'] in line and header['torch'] == torch.__version__


def check_decode(rows: list, llamagen: bool, archs=('GPT-B', 'GPT-XL')) -> None:
    assert {r['run'].split()[0] for r in rows if r['section'] == 'decode'} == set(archs)
    for arch in archs:
        mine = {r['stage']: r for r in rows if r['section'] == 'decode' and r['run'].startswith(arch + ' ')}
        assert set(mine) == ({'argrpo', 'LlamaGen generate', 'argrpo / LlamaGen'} if llamagen
                             else {'argrpo', 'LlamaGen generate'}), mine
        for stage in ('argrpo', 'LlamaGen generate') if llamagen else ('argrpo', ):
            r = mine[stage]
            assert 0 < r['seconds'] < 30 and r['warmup'] > 0 and len(r['timed']) == 2
            assert r['rate'].endswith('tok/s') and 0 < r['peak_frac'] < 1, r
        if llamagen:  # float32 on a CPU: the same greedy tokens, all of them
            ratio = mine['argrpo / LlamaGen']
            assert ratio['tokens_equal'] == 1.0 and ratio['first_difference'] is None, ratio
            assert ratio['speedup'] > 0 and ratio['rate'] == f'{ratio["speedup"]:.2f}x'
        else:
            assert mine['LlamaGen generate']['skipped'] and 'no LlamaGen checkout' in mine['LlamaGen generate']['note']


def check_grpo(rows: list) -> None:
    for run in RUNS:
        mine = {r['stage']: r for r in rows if r['run'] == run}
        assert set(STAGES) | {'reward: clip', 'reward: hps', 'reward: maniqa', 'other', 'iteration'} == set(mine), run
        it = mine['iteration']
        assert not it['skipped'] and 0 < it['seconds'] < 30 and it['images_per_s'] > 0
        assert it['planned_gib'] > 0 and it['memory_gib'] is not None and math.isfinite(it['memory_gib'])
        assert 'first-update max |log r| 0.0e+00' in it['note'], it['note']  # on-policy: ratio 1
        for stage in STAGES:
            assert 0 < mine[stage]['seconds'] < it['seconds'], (run, stage)
        for stage in ('rollout', 'old log-probs', 'reference log-probs', 'updates'):
            assert 0 < mine[stage]['peak_frac'] < 1, (run, stage)
        assert mine['other']['seconds'] > -1e-3  # the stages do not overlap: their sum is within the iteration
        assert sum(mine[f'reward: {n}']['seconds'] for n in ('clip', 'hps', 'maniqa')) <= mine['reward']['seconds']
    fsdp = next(r for r in rows if r['run'] == RUNS[2] and r['stage'] == 'iteration')
    assert 'decoder dynamic' in fsdp['note']  # the FSDP wrapper decodes eagerly


@pytest.mark.slow
def test_cpu_suite_with_a_llamagen_stand_in(tmp_path):
    """The whole suite at its CPU sizes, the LlamaGen side through a stand-in checkout."""
    stdout, result = run_suite(tmp_path, '--llamagen', stub_llamagen(tmp_path / 'LlamaGen'))
    rows = result['rows']
    assert not [r for r in rows if 'error' in r]
    check_header(stdout, result['header'])
    check_decode(rows, llamagen=True)
    check_grpo(rows)
    table = stdout[stdout.index('argrpo GPU suite: '):].splitlines()
    assert table[1].split()[:8] == ['section', 'run', 'stage', 'seconds', 'rate', '%peak', 'mem', 'GiB']
    assert len(table) == len(rows) + 3  # header, column names, rows, the legend


@pytest.mark.slow
def test_isolated_sections_pass_their_settings(tmp_path):
    """Each section in a fresh process (the default on a GPU): the settings reach it, the
    results (greedy tokens too) come back."""
    _, result = run_suite(tmp_path, '--isolate', '--sections', 'decode', '--archs', 'GPT-B', '--tokens', '16',
                          '--batch', '4', '--llamagen', stub_llamagen(tmp_path / 'LlamaGen'))
    check_decode(result['rows'], llamagen=True, archs=('GPT-B', ))
    assert all(r['run'] == 'GPT-B 16 tok, batch 4, CFG 4' for r in result['rows'])


def test_without_llamagen_its_column_says_so(tmp_path, capsys):
    """No checkout: the LlamaGen column is skipped and says why; argrpo's row still comes."""
    spec = importlib.util.spec_from_file_location('gpu_suite', SUITE)
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    assert suite.main(['--device', 'cpu', '--sections', 'decode', '--llamagen', str(tmp_path / 'none'),
                       '--json', str(tmp_path / 'out.json')]) == 0
    out = capsys.readouterr().out
    assert f'No LlamaGen checkout at {tmp_path / "none"}' in out
    check_decode(json.loads((tmp_path / 'out.json').read_text())['rows'], llamagen=False)


REAL = os.environ.get('ARGRPO_LLAMAGEN') or osp.join(ROOT, 'third_party', 'LlamaGen')


@pytest.mark.slow
@pytest.mark.skipif(not osp.isfile(osp.join(REAL, 'autoregressive', 'models', 'generate.py')),
                    reason='no LlamaGen checkout ($ARGRPO_LLAMAGEN or third_party/LlamaGen)')
def test_cpu_decoding_against_a_real_llamagen_checkout(tmp_path):
    """LlamaGen's own generate on its own Transformer, the same weights: the same greedy tokens."""
    _, result = run_suite(tmp_path, '--llamagen', REAL, '--sections', 'decode')
    check_decode(result['rows'], llamagen=True)


def test_planner_takes_the_lora_config_rank():
    """The paper's LoRA config sets r: the plan counts r=32 adapters (it raised a TypeError)."""
    from argrpo.apis import load_config
    from argrpo.apis.memory_plan import gpt_shape, lora_params, plan
    cfg = load_config(osp.join(ROOT, 'configs', 'argrpo', 'argrpo_llamagen-xl_c2i_256_lora.py'))
    shape = gpt_shape(cfg.model.generator)
    assert plan(cfg).parts['gradients'] == 4 * lora_params(shape, 32, ('wqkv', 'wo', 'w1', 'w2', 'w3'))
