"""The GPU figures in one prepared run: argrpo's decoding against LlamaGen's own compiled
``generate``, a whole GRPO iteration at the paper's per-GPU batch with the paper's reward set,
and one iteration with FSDP and with LoRA. One table at the end, with the device, torch version
and date.

    python benchmarks/gpu_suite.py [--llamagen third_party/LlamaGen] [--json OUT.json]
                                   [--device cuda|cpu] [--sections decode grpo fsdp lora]
    bash benchmarks/gpu_suite.sh [options]      # the same command

On a GPU (the default where CUDA is there), sized for about 8 minutes, compilation included:

* decode: batch 8, CFG 4, 384 px (576 tokens), GPT-B and GPT-XL with the same random weights
  (LlamaGen's initialisation, the output layer drawn N(0, 0.02)), both sides in bf16 weights as
  LlamaGen's ``sample_c2i.py`` runs (``--precision bf16``), greedy: argrpo's compiled CUDA-graph
  decoder (``LlamaGenGPT.sample(decode='compiled')``) against LlamaGen's
  ``autoregressive.models.generate.generate`` on its ``Transformer`` under
  ``torch.compile(mode='reduce-overhead', fullgraph=True)``, as its ``--compile`` does. The first
  call of each (compilation, graph recording) is reported apart; the others are timed. The greedy
  tokens of the two are compared (in bf16 they part at the first rounding difference: the share of
  equal tokens and the first position that differs are reported). LlamaGen's code is never part of
  argrpo: bring a checkout of https://github.com/FoundationVision/LlamaGen and pass its folder with
  ``--llamagen`` (default ``third_party/LlamaGen``, ignored by git); without it, that column is
  skipped and the table says so.
* grpo: one GRPO iteration of ``configs/argrpo/argrpo_llamagen-b_c2i_256.py`` (1 class x 8
  samples, CFG 2) and of ``argrpo_llamagen-xl_t2i_256.py`` (2 captions x 8, CFG 4) in bf16
  autocast with the paper's reward set at random weights of the real architectures: CLIP
  ViT-L-14 and HPS ViT-H-14 (open_clip, ``pretrained=None``), MANIQA (pyiqa, ``pretrained=False``,
  20 crops); the T5 caption encoder of t2i is FLAN-T5-XL's architecture with random weights and a
  stand-in tokenizer (words hashed to ids: no tokenizer files needed). Seconds per stage (each
  stage synchronised), images per second, the share of the bf16 matmul peak measured in the same
  process that the GPT's stages reach, peak memory (``max_memory_allocated``) beside
  ``tools/memory_plan.py``'s plan. A first iteration (compilation) is the warm-up.
* fsdp / lora: the GPT-B iteration wrapped in ``GRPOFullyShardedDataParallel`` (one process,
  NCCL), and with LoRA adapters (r=32 on the blocks' linears, as the paper's LoRA config).

Each section runs in a fresh process on a GPU (its own peak memory and compilation caches);
``--no-isolate`` runs them in this one. Without a GPU (``--device cpu``, the default without CUDA)
the same code runs at tiny sizes (GPTs of 2-3 layers, 36 / 16 tokens, tiny open_clip, MANIQA and
T5 architectures, float32 decoding so that greedy tokens must agree exactly) in this process in
under a minute: the CPU test of the suite (tests/test_gpu_suite.py). There argrpo decodes with the
'static' step (the step 'compiled' compiles) and LlamaGen's model is compiled with
``backend='eager'``: Dynamo captures it whole (``fullgraph``), no code is generated.
"""
import argparse
import contextlib
import datetime
import functools
import gc
import json
import os
import os.path as osp
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from typing import Callable, Dict, List, Optional

import torch
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_sampling import decode_flops, matmul_flops_per_s  # noqa: E402

GiB = 2 ** 30
CONFIGS = {'b_c2i': 'configs/argrpo/argrpo_llamagen-b_c2i_256.py',
           'xl_t2i': 'configs/argrpo/argrpo_llamagen-xl_t2i_256.py'}
# the GRPO runs: (id, label, config, LoRA, FSDP)
GRPO_RUNS = {
    'grpo': [('grpo_b_c2i', 'GPT-B c2i 256', 'b_c2i', False, False),
             ('grpo_xl_t2i', 'GPT-XL t2i 256', 'xl_t2i', False, False)],
    'fsdp': [('fsdp_b_c2i', 'GPT-B c2i 256, FSDP (1 process)', 'b_c2i', False, True)],
    'lora': [('lora_b_c2i', 'GPT-B c2i 256, LoRA r=32', 'b_c2i', True, False)],
}
LORA = dict(r=32, lora_alpha=32, lora_dropout=0.0)  # configs/argrpo/argrpo_llamagen-xl_c2i_256_lora.py
DECODE_ARCHS = ('GPT-B', 'GPT-XL')
# tiny stand-ins on the CPU: (n_layer, n_head, dim) of each arch
TINY_ARCHS = {'GPT-B': (2, 4, 64), 'GPT-XL': (3, 4, 96)}
TINY_VOCAB = 256
TINY_OPEN_CLIP = {  # the paper's CLIP ViT-L-14 and HPS ViT-H-14 at toy size
    'GPUSuite-Tiny-L': dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8,
                                                          head_width=16),
                            text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1)),
    'GPUSuite-Tiny-H': dict(embed_dim=48, vision_cfg=dict(image_size=32, layers=2, width=48, patch_size=8,
                                                          head_width=16),
                            text_cfg=dict(context_length=16, vocab_size=49408, width=48, heads=3, layers=1)),
}
TINY_T5 = dict(d_model=32, d_ff=64, num_layers=1, num_heads=2, d_kv=16, vocab_size=1000,
               feed_forward_proj='gated-gelu')
# MANIQA with a toy ViT: 32 px patches on its 224 px crops (7 x 7), 10 blocks (it reads 6-9)
TINY_MANIQA_VIT = dict(embed_dim=32, depth=10, num_heads=2, patch_size=32)
TINY_MANIQA = dict(embed_dim=32, dim_mlp=32, num_heads=[2, 2], patch_size=32, window_size=7, test_sample=2)
STAGES = ('conditions', 'rollout', 'VQ decode', 'reward', 'old log-probs', 'reference log-probs', 'updates')
CAPTIONS = ['a red apple on a wooden table', 'a lighthouse on a cliff at sunset',
            'two dogs running on a beach', 'a bowl of ramen with chopsticks']


# ---- helpers ------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    model = platform.processor() or 'cpu'
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), model)
    return f'{model} ({torch.get_num_threads()} threads)'


def git_commit() -> str:
    with contextlib.suppress(Exception):
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or '?'
    return '?'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class PeakMemory:
    """Peak memory of a block over ``base``: ``max_memory_allocated`` on CUDA; on a CPU the
    process RSS sampled every millisecond by a thread (approximate, and in a shared process a
    lower bound: freed heap is reused before the RSS grows)."""

    def __init__(self, device: torch.device, base: int):
        self.device, self.base, self.peak = device, base, 0

    def __enter__(self):
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._stop = threading.Event()
            self._top = rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.001):
            self._top = max(self._top, rss())

    def __exit__(self, *exc):
        if self.device.type == 'cuda':
            sync(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.base
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._top, rss()) - self.base


def memory_now(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == 'cuda' else rss()


def timed_call(fn: Callable, device: torch.device):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def row(section: str, run: str, stage: str, seconds: Optional[float] = None, rate: str = '',
        peak_frac: Optional[float] = None, memory: Optional[float] = None, planned: Optional[float] = None,
        note: str = '', **extra) -> dict:
    return dict(section=section, run=run, stage=stage, seconds=seconds, rate=rate, peak_frac=peak_frac,
                memory_gib=memory, planned_gib=planned, note=note, **extra)


# ---- decoding: argrpo's compiled decoder against LlamaGen's compiled generate -------------------
def decode_spec(args, arch: str) -> dict:
    """The GPT of the decoding runs: LlamaGen's arch on a GPU, a toy one on a CPU."""
    if args.tiny:
        n_layer, n_head, dim = TINY_ARCHS[arch]
        return dict(arch=arch, n_layer=n_layer, n_head=n_head, dim=dim, multiple_of=32, vocab_size=TINY_VOCAB,
                    block_size=args.tokens, num_classes=10)
    from argrpo.generators.gpt import ARCHS
    n_layer, n_head, dim = ARCHS[arch]
    return dict(arch=arch, n_layer=n_layer, n_head=n_head, dim=dim, multiple_of=256, vocab_size=16384,
                block_size=args.tokens, num_classes=1000)


def decode_weights(spec: dict) -> nn.Module:
    """argrpo's GPT with the runs' random weights, the same in every process: LlamaGen's
    initialisation from seed 0, then the output layer (zero at initialisation) N(0, 0.02)."""
    from argrpo.generators import LlamaGenGPT
    torch.manual_seed(0)
    model = LlamaGenGPT(**{k: v for k, v in spec.items()})
    with torch.no_grad():
        model.output.weight.normal_(0, 0.02)
    return model.eval()


def decode_dtype(args) -> torch.dtype:
    return torch.float32 if args.tiny else torch.bfloat16


def decode_setup(args) -> None:
    # as LlamaGen's sample_c2i.py: TF32 matmuls (float32 only; both sides alike)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision('high')


def graphs_compiled() -> int:
    import torch._dynamo.utils
    return int(torch._dynamo.utils.counters['stats'].get('unique_graphs', 0))


def time_decoder(run: Callable, args) -> dict:
    """The first call (compilation, recording) apart, then ``args.reps`` timed calls."""
    warm, _ = timed_call(run, args.device)
    graphs = graphs_compiled()
    seconds, tokens = [], None
    for _ in range(args.reps):
        s, tokens = timed_call(run, args.device)
        seconds.append(s)
    return dict(warmup=warm, seconds=statistics.median(seconds), all_seconds=seconds,
                recompiled=graphs_compiled() - graphs, tokens=tokens.long().cpu().tolist())


def decode_argrpo(args, arch: str) -> dict:
    from argrpo.samplers import TokenSampler
    decode_setup(args)
    spec = decode_spec(args, arch)
    model = decode_weights(spec).to(args.device)
    dtype = decode_dtype(args)
    for p in model.parameters():  # bf16 weights as LlamaGen's --precision bf16; rope tables stay float32
        p.data = p.data.to(dtype)
    cond = torch.arange(args.batch, device=args.device) % spec['num_classes']
    sampler = TokenSampler(cfg_scale=args.cfg, greedy=True)
    path = 'static' if args.tiny else 'compiled'
    result = time_decoder(lambda: model.sample(cond, sampler, decode=path).tokens, args)
    result['flops'] = decode_flops(model, 2 * args.batch, args.tokens)
    result['path'] = path
    return result


def import_llamagen(folder: str):
    """LlamaGen's ``ModelArgs``, ``Transformer`` (autoregressive/models/gpt.py) and ``generate``
    (autoregressive/models/generate.py) from a checkout at ``folder``."""
    folder = osp.abspath(folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # its modules import `utils.drop_path` from the checkout's root
    from autoregressive.models.generate import generate
    from autoregressive.models.gpt import ModelArgs, Transformer
    return ModelArgs, Transformer, generate


def decode_llamagen(args, arch: str) -> dict:
    decode_setup(args)
    ModelArgs, Transformer, generate = import_llamagen(args.llamagen)
    spec = decode_spec(args, arch)
    weights = decode_weights(spec).state_dict()
    model = Transformer(ModelArgs(
        dim=spec['dim'], n_layer=spec['n_layer'], n_head=spec['n_head'], multiple_of=spec['multiple_of'],
        vocab_size=spec['vocab_size'], block_size=spec['block_size'], num_classes=spec['num_classes'],
        cls_token_num=1, model_type='c2i'))
    model.load_state_dict(weights, strict=True)  # LlamaGen's key names are argrpo's
    model = model.to(device=args.device, dtype=decode_dtype(args)).eval()
    if args.tiny:  # Dynamo captures the whole model (fullgraph), no code generated
        compiled = torch.compile(model, backend='eager', fullgraph=True)
    else:  # autoregressive/sample/sample_c2i.py --compile
        compiled = torch.compile(model, mode='reduce-overhead', fullgraph=True)
    cond = torch.arange(args.batch, device=args.device) % spec['num_classes']
    result = time_decoder(lambda: generate(compiled, cond, args.tokens, cfg_scale=args.cfg, cfg_interval=-1,
                                           temperature=1.0, top_k=0, top_p=1.0, sample_logits=False), args)
    result['path'] = 'torch.compile ' + ('(eager backend)' if args.tiny else 'reduce-overhead, fullgraph')
    return result


def decode_rows(args, arch: str, ours: dict, theirs: Optional[dict], peak: float) -> List[dict]:
    spec = decode_spec(args, arch)
    run = f'{arch} {args.tokens} tok, batch {args.batch}, CFG {args.cfg:g}'
    tiny = f'; tiny: {spec["n_layer"]} layers, dim {spec["dim"]}, float32' if args.tiny else ''
    out_tokens = args.batch * args.tokens

    def timing(name, result, note=''):
        if 'error' in result:
            return row('decode', run, name, note='ERROR: ' + result['error'], error=result['error'])
        recompiled = f'; {result["recompiled"]} graphs compiled during the timed calls' if result['recompiled'] else ''
        return row('decode', run, name, result['seconds'], f'{out_tokens / result["seconds"]:.0f} tok/s',
                   ours['flops'] / result['seconds'] / peak if 'flops' in ours else None,
                   note=f'{result["path"]}; warm-up {result["warmup"]:.1f} s{recompiled}{tiny}{note}',
                   warmup=result['warmup'], timed=result['all_seconds'])

    rows = [timing('argrpo', ours)]
    if theirs is None:
        rows.append(row('decode', run, 'LlamaGen generate', note=f'skipped: no LlamaGen checkout at {args.llamagen} '
                        '(bring one and pass --llamagen DIR)', skipped=True))
        return rows
    rows.append(timing('LlamaGen generate', theirs))
    if 'error' in ours or 'error' in theirs:
        return rows
    a, b = torch.tensor(ours['tokens']), torch.tensor(theirs['tokens'])
    equal = (a == b)
    differs = (~equal).any(0).nonzero()
    first = int(differs[0]) if len(differs) else None
    rows.append(row('decode', run, 'argrpo / LlamaGen', rate=f'{theirs["seconds"] / ours["seconds"]:.2f}x',
                    note=f'greedy tokens equal: {equal.float().mean().item():.1%}' + (
                        f', first difference at token {first}' if first is not None else ' (all)'),
                    speedup=theirs['seconds'] / ours['seconds'], tokens_equal=equal.float().mean().item(),
                    first_difference=first))
    return rows


# ---- a GRPO iteration -----------------------------------------------------------------------------
class GPUSuiteRandomT5(nn.Module):
    """``T5TextEncoder``'s computation with random weights and no files to fetch: the T5 encoder
    of ``path``/config.json (FLAN-T5-XL's in the suite), words hashed to token ids in place of
    the SentencePiece tokenizer, features left-padded as LlamaGen reads them. A stand-in for
    timing and memory only; configs name it by class (``type=GPUSuiteRandomT5``), so that no
    registry of argrpo holds it."""

    def __init__(self, path: str, max_length: int = 120):
        super().__init__()
        import transformers
        config = transformers.T5Config.from_json_file(osp.join(path, 'config.json'))
        self.encoder = transformers.T5EncoderModel(config).eval()
        self.max_length, self.vocab = max_length, config.vocab_size

    @torch.no_grad()
    def forward(self, captions):
        from argrpo.tokenizers.t5_encoder import left_pad
        ids = torch.zeros(len(captions), self.max_length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, caption in enumerate(captions):
            words = [2 + zlib.crc32(w.encode()) % (self.vocab - 2) for w in caption.split()][:self.max_length - 1]
            words.append(1)  # </s>
            ids[i, :len(words)], mask[i, :len(words)] = torch.tensor(words), 1
        device = next(self.encoder.parameters()).device
        mask = mask.to(device)
        features = self.encoder(input_ids=ids.to(device), attention_mask=mask).last_hidden_state
        return left_pad(features.float(), mask)


@contextlib.contextmanager
def random_reward_weights(tiny: bool):
    """The rewards' real architectures with random weights: open_clip models built with
    ``pretrained=None`` where a reward has no checkpoint (``CLIPScore`` / ``HPSv2`` ask for
    one), MANIQA as pyiqa builds it with ``pretrained=False``. ``tiny``: MANIQA's ViT-B/8
    backbone built at toy size."""
    import timm
    from argrpo.rewards import clip_score
    from argrpo.utils import create_open_clip
    load, create_model = clip_score.load_open_clip, timm.create_model

    def random_open_clip(arch, checkpoint, *args, **kwargs):
        return create_open_clip(arch) if checkpoint is None else load(arch, checkpoint, *args, **kwargs)

    def toy_backbone(name, *args, **kwargs):
        if name == 'vit_base_patch8_224':
            kwargs.update(TINY_MANIQA_VIT)
        return create_model(name, *args, **kwargs)

    clip_score.load_open_clip = random_open_clip
    if tiny:
        timm.create_model = toy_backbone
    try:
        yield
    finally:
        clip_score.load_open_clip, timm.create_model = load, create_model


def register_tiny_open_clip(folder: str) -> None:
    import open_clip
    if all(name in open_clip.list_models() for name in TINY_OPEN_CLIP):
        return
    for name, config in TINY_OPEN_CLIP.items():
        with open(osp.join(folder, name + '.json'), 'w') as f:
            json.dump(config, f)
    open_clip.add_model_config(folder)


def grpo_config(args, key: str, lora: bool, workdir: str):
    """The paper's config with random weights, the paper's reward set, the T5 stand-in; tiny on a CPU."""
    from argrpo.apis import load_config
    tiny = args.tiny
    clip, hps = ('GPUSuite-Tiny-L', 'GPUSuite-Tiny-H') if tiny else ('ViT-L-14', 'ViT-H-14')
    if tiny:
        register_tiny_open_clip(workdir)
    maniqa = dict(metric_options=TINY_MANIQA) if tiny else {}
    options = {
        'model.generator.checkpoint': None,
        'model.reward': dict(_delete_=True, type='WeightedSum', rewards=[
            dict(type='CLIPScore', name='clip', arch=clip, scale=5.0),
            dict(type='HPSv2', name='hps', arch=hps, scale=5.0),
            dict(type='IQAReward', name='maniqa', metric='maniqa', offset=0.5, scale=2.0, weight=2.0, **maniqa)]),
        'model.overlap_reward': False,  # one rollout chunk at this batch anyway: stages timed one by one
    }
    if tiny:
        n_layer, n_head, dim = TINY_ARCHS['GPT-XL' if key == 'xl_t2i' else 'GPT-B']
        options.update({'model.generator.n_layer': n_layer, 'model.generator.n_head': n_head,
                        'model.generator.dim': dim, 'model.generator.multiple_of': 32,
                        'model.generator.vocab_size': TINY_VOCAB, 'model.generator.block_size': 16,
                        'model.tokenizer': dict(_delete_=True, type='LlamaGenVQ', ch=32, ch_mult=(1, 2),
                                                z_channels=32, codebook_size=TINY_VOCAB, codebook_embed_dim=4,
                                                checkpoint=None)})
        if key == 'xl_t2i':
            options.update({'model.generator.caption_dim': TINY_T5['d_model'], 'model.generator.cls_token_num': 8})
    else:
        options['model.tokenizer.checkpoint'] = None
    if key == 'xl_t2i':
        t5 = osp.join(workdir, 't5')
        os.makedirs(t5, exist_ok=True)
        from argrpo.apis.memory_plan import T5_XL
        with open(osp.join(t5, 'config.json'), 'w') as f:  # the planner reads it too
            json.dump(dict(TINY_T5 if tiny else T5_XL, model_type='t5'), f)
        options['model.text_encoder'] = dict(_delete_=True, type=GPUSuiteRandomT5, path=t5,
                                             max_length=8 if tiny else 120)
    if lora:
        options['model.lora'] = LORA
    return load_config(osp.join(ROOT, CONFIGS[key]), options)


class StageClock:
    """Seconds of the stages of an iteration, each synchronised: instance methods wrapped. A
    call inside another timed one counts in the outer stage (the reference is scored through
    ``score_tokens``); ``detail`` timers (one reward of the sum) are kept apart as well."""

    def __init__(self, device: torch.device):
        self.device, self.seconds, self.depth = device, {}, 0

    def wrap(self, obj, method: str, stage: str, detail: bool = False) -> None:
        original = getattr(obj, method)

        @functools.wraps(original)
        def run(*args, **kwargs):
            if self.depth and not detail:
                return original(*args, **kwargs)
            sync(self.device)
            start = time.perf_counter()
            self.depth += not detail
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= not detail
                sync(self.device)
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

        setattr(obj, method, run)


def gpt_flops(shape, rows: int) -> Dict[str, float]:
    """Matmul FLOPs of the GPT of ``shape``: a rollout (one KV-cached step per image token) and
    one teacher-forced forward (causal attention), over ``rows`` sequences."""
    linear = sum(i * o for name, i, o in shape.linears() if name not in ('fc1', 'fc2'))
    head = shape.dim * shape.vocab
    attention = 4 * shape.n_layer * shape.dim
    rollout = sum(2 * linear + attention * (shape.cls_token_num + t) for t in range(shape.block_size))
    forward = 2 * (linear - head) * shape.seq + 2 * head * shape.block_size + attention * shape.seq ** 2 / 2
    return dict(rollout=rows * rollout, forward=rows * forward)


def init_process_group(device: torch.device) -> None:
    import torch.distributed as dist
    if device.type == 'cuda':
        torch.cuda.set_device(device)
    dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo', rank=0, world_size=1,
                            init_method=f'tcp://127.0.0.1:{free_port()}')


def grpo_run(args, run_id: str) -> dict:
    """One GRPO setup: a warm-up iteration, then one timed iteration split by stage."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from argrpo.apis.memory_plan import gpt_shape, plan
    from argrpo.models.wrappers import GRPOFullyShardedDataParallel
    from argrpo.registry import MODELS
    _, label, key, lora, fsdp = next(r for runs in GRPO_RUNS.values() for r in runs if r[0] == run_id)
    init_default_scope('argrpo')
    device = args.device
    with tempfile.TemporaryDirectory() as workdir:
        cfg = grpo_config(args, key, lora, workdir)
        peak_flops = matmul_flops_per_s(device, torch.bfloat16, n=256 if args.tiny else 8192)
        gc.collect()
        base = memory_now(device)
        torch.manual_seed(0)
        start = time.perf_counter()
        with random_reward_weights(args.tiny):
            model = MODELS.build(cfg.model)
        model = model.to(device)
        with torch.no_grad():
            model.policy.output.weight.normal_(0, 0.02)  # zero at LlamaGen's initialisation
        if not lora:
            model.sync_reference()
        build = time.perf_counter() - start
        if fsdp:
            init_process_group(device)
        try:
            module = GRPOFullyShardedDataParallel(model) if fsdp else model
            optim = build_optim_wrapper(model.policy, cfg.optim_wrapper)
            prompts = cfg.train_dataloader.batch_size
            conds = ([CAPTIONS[i % len(CAPTIONS)] for i in range(prompts)] if model.text_encoder is not None
                     else list(range(prompts)))
            prompt = [c if isinstance(c, str) else f'a photo of class {c}' for c in conds]
            data = dict(cond=conds, prompt=prompt, index=list(range(prompts)))
            warm, _ = timed_call(lambda: module.train_step(dict(data, rollout_seed=0), optim), device)
            clock = StageClock(device)
            for method, stage in (('encode_conditions', 'conditions'), ('rollout', 'rollout'), ('decode', 'VQ decode'),
                                  ('score_reference', 'reference log-probs'), ('score_tokens', 'old log-probs'),
                                  ('_update', 'updates')):
                clock.wrap(model, method, stage)
            clock.wrap(model.reward, 'components', 'reward')
            for reward in model.reward.rewards:
                clock.wrap(reward, 'components', f'reward: {reward.name}', detail=True)
            with PeakMemory(device, base) as memory:
                seconds, log = timed_call(lambda: module.train_step(dict(data, rollout_seed=1), optim), device)
        finally:
            if fsdp:
                torch.distributed.destroy_process_group()
        frozen = None
        if args.tiny:  # the planner knows the published sizes only: count the toy models
            frozen = {name: (sum(p.numel() for p in part.parameters()), 4) for name, part in
                      (('tokenizer', model.tokenizer), ('text encoder', model.text_encoder), ('reward', model.reward))
                      if part is not None}
        planned = plan(cfg, gpus=1, lora=lora, fsdp=fsdp, device=device.type, frozen=frozen)
        algo = model.algorithm
        samples = prompts * algo.group_size
        rows = samples * (2 if model.sampler.uses_cfg else 1)
        shape = gpt_shape(cfg.model.generator)
        flops = gpt_flops(shape, rows)
        stage_flops = {'rollout': flops['rollout'], 'old log-probs': flops['forward'],
                       'reference log-probs': flops['forward'],
                       'updates': 3 * flops['forward'] * algo.inner_epochs}
        return dict(label=label, seconds=seconds, warmup=warm, build=build, stages=clock.seconds,
                    stage_flops=stage_flops, peak_flops=peak_flops, samples=samples,
                    memory=memory.peak, planned=planned.peak,
                    planned_phase=max(planned.phases, key=planned.phases.get),
                    skipped=float(log.get('skipped', 0)), decoder=model.policy.decode_path(model.decoder, device),
                    prompts=prompts,
                    onpolicy=float(log.get('onpolicy_log_ratio_max', float('nan'))), group=algo.group_size,
                    size=f'{shape.n_layer} layers, dim {shape.dim}, {shape.block_size} tokens')


def grpo_rows(args, run_id: str, result: dict) -> List[dict]:
    section = run_id.split('_')[0]
    label = next(r[1] for runs in GRPO_RUNS.values() for r in runs if r[0] == run_id)
    if args.tiny:
        label += ' (tiny)'
    if 'error' in result:
        return [row(section, label, 'iteration', note='ERROR: ' + result['error'], error=result['error'])]
    out = []
    total = result['seconds']
    for stage in STAGES:
        seconds = result['stages'].get(stage)
        flops = result['stage_flops'].get(stage)
        frac = flops / seconds / result['peak_flops'] if flops and seconds else None
        out.append(row(section, label, stage, seconds, f'{flops / seconds / 1e12:.2f} TFLOP/s' if frac else '', frac))
        if stage == 'reward':
            out += [row(section, label, name, value) for name, value in result['stages'].items()
                    if name.startswith('reward: ')]
    rest = total - sum(result['stages'].get(stage, 0.0) for stage in STAGES)
    out.append(row(section, label, 'other', rest, note='advantages, logging, what no stage holds'))
    out.append(row(section, label, 'iteration', total, f'{result["samples"] / total:.1f} img/s',
                   memory=result['memory'] / GiB, planned=result['planned'] / GiB,
                   note=f'{result["prompts"]} x {result["group"]} samples; GPT {result["size"]}; '
                        f'decoder {result["decoder"]}; '
                        f'warm-up {result["warmup"]:.1f} s, build {result["build"]:.1f} s; '
                        f'planned peak in {result["planned_phase"]}; first-update max |log r| {result["onpolicy"]:.1e}'
                        + ('; SKIPPED' if result['skipped'] else ''),
                   skipped=bool(result['skipped']), images_per_s=result['samples'] / total))
    return out


# ---- running the sections -------------------------------------------------------------------------
def section_ids(args) -> List[str]:
    ids = []
    if 'decode' in args.sections:
        for arch in args.archs:
            ids.append(f'decode_argrpo:{arch}')
            if args.have_llamagen:
                ids.append(f'decode_llamagen:{arch}')
    for section in ('grpo', 'fsdp', 'lora'):
        if section in args.sections:
            ids += [r[0] for r in GRPO_RUNS[section]]
    return ids


def run_section(args, section_id: str) -> dict:
    """One measurement in this process; an error is returned, not raised."""
    try:
        kind, _, arch = section_id.partition(':')
        if kind == 'decode_argrpo':
            return decode_argrpo(args, arch)
        if kind == 'decode_llamagen':
            return decode_llamagen(args, arch)
        return grpo_run(args, section_id)
    except Exception as error:  # the other sections' figures still come out
        traceback.print_exc()
        return dict(error=f'{type(error).__name__}: {error}'.splitlines()[0][:300])
    finally:
        gc.collect()
        if args.device.type == 'cuda':
            torch.cuda.empty_cache()


def run_isolated(args, section_id: str) -> dict:
    """``run_section`` in a fresh process: its own peak memory and compilation caches."""
    with tempfile.NamedTemporaryFile(suffix='.json') as out:
        cmd = [sys.executable, osp.abspath(__file__), '--child', section_id, '--child-out', out.name,
               '--device', str(args.device), '--llamagen', args.llamagen, '--reps', str(args.reps),
               '--tokens', str(args.tokens), '--batch', str(args.batch), '--cfg', str(args.cfg)]
        proc = subprocess.run(cmd)
        with open(out.name) as f:
            text = f.read()
    if proc.returncode or not text:
        return dict(error=f'the process of {section_id} ended with code {proc.returncode}')
    return json.loads(text)


def table(header: dict, rows: List[dict]) -> str:
    widths = dict(section=7, run=44, stage=20, seconds=9, rate=16, peak=7, memory=8, planned=8)
    lines = [f'argrpo GPU suite: {header["device"]}; torch {header["torch"]}; {header["date"]}; '
             f'argrpo {header["commit"]}; mode {header["mode"]}; LlamaGen {header["llamagen"]}',
             f'{"section":<{widths["section"]}} {"run":<{widths["run"]}} {"stage":<{widths["stage"]}} '
             f'{"seconds":>{widths["seconds"]}} {"rate":>{widths["rate"]}} {"%peak":>{widths["peak"]}} '
             f'{"mem GiB":>{widths["memory"]}} {"plan GiB":>{widths["planned"]}}  note']

    def fmt(value, width, spec):
        return f'{"-" if value is None else format(value, spec):>{width}}'

    for r in rows:
        lines.append(f'{r["section"]:<{widths["section"]}} {r["run"][:widths["run"]]:<{widths["run"]}} '
                     f'{r["stage"]:<{widths["stage"]}} {fmt(r["seconds"], widths["seconds"], ".3f")} '
                     f'{r["rate"] or "-":>{widths["rate"]}} '
                     f'{fmt(None if r["peak_frac"] is None else 100 * r["peak_frac"], widths["peak"], ".1f")} '
                     f'{fmt(r["memory_gib"], widths["memory"], ".2f")} '
                     f'{fmt(r["planned_gib"], widths["planned"], ".2f")}  {r["note"]}')
    lines.append(f'total {header["wall"]:.0f} s; %peak: FLOPs of the GPT\'s matmuls per second over the matmul '
                 f'peak measured in the same run ({header["matmul_dtype"]}); mem: peak over the memory before the '
                 'models were built' + (' (CUDA max_memory_allocated)' if header['mode'] == 'gpu' else
                                 ' (process RSS, sampled)') + '; plan: tools/memory_plan.py')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='cuda: the figures at full size; cpu: the same code at tiny sizes')
    parser.add_argument('--llamagen', default=osp.join(ROOT, 'third_party', 'LlamaGen'),
                        help='a checkout of FoundationVision/LlamaGen (its folder holds autoregressive/)')
    parser.add_argument('--sections', nargs='+', default=['decode', 'grpo', 'fsdp', 'lora'],
                        choices=['decode', 'grpo', 'fsdp', 'lora'])
    parser.add_argument('--archs', nargs='+', default=list(DECODE_ARCHS), choices=list(TINY_ARCHS))
    parser.add_argument('--tokens', type=int, help='image tokens of the decoding runs (default 576, 36 on a CPU)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--cfg', type=float, default=4.0)
    parser.add_argument('--reps', type=int, help='timed decoding calls after the warm-up (default 3, 2 on a CPU)')
    parser.add_argument('--isolate', action=argparse.BooleanOptionalAction, default=None,
                        help='each section in a fresh process (default: on a GPU)')
    parser.add_argument('--json', help='also write the header and rows to this file')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--child-out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = torch.device(args.device)
    if args.device.type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available here (--device cpu runs the tiny sizes)')
    args.tiny = args.device.type != 'cuda'
    args.tokens = args.tokens or (36 if args.tiny else 576)
    args.reps = args.reps or (2 if args.tiny else 3)
    if int(round(args.tokens ** 0.5)) ** 2 != args.tokens:
        parser.error(f'--tokens must be a square number, got {args.tokens}')
    args.isolate = (not args.tiny) if args.isolate is None else args.isolate
    args.have_llamagen = osp.isfile(osp.join(args.llamagen, 'autoregressive', 'models', 'generate.py'))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        result = run_section(args, args.child)
        with open(args.child_out, 'w') as f:
            json.dump(result, f)
        return 0
    start = time.perf_counter()
    header = dict(device=device_name(args.device), torch=torch.__version__,
                  date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
                  commit=git_commit(), mode='cpu-tiny' if args.tiny else 'gpu',
                  llamagen=args.llamagen if args.have_llamagen else f'absent ({args.llamagen})')
    if not args.have_llamagen and 'decode' in args.sections:
        print(f'No LlamaGen checkout at {args.llamagen}: its column is skipped. Bring one (git clone '
              'https://github.com/FoundationVision/LlamaGen third_party/LlamaGen) or pass --llamagen DIR.')
    results = {}
    for section_id in section_ids(args):
        print(f'[gpu_suite] {section_id} ...', flush=True)
        t = time.perf_counter()
        results[section_id] = run_isolated(args, section_id) if args.isolate else run_section(args, section_id)
        print(f'[gpu_suite] {section_id}: {time.perf_counter() - t:.1f} s'
              + (f' ERROR {results[section_id]["error"]}' if 'error' in results[section_id] else ''), flush=True)
    rows = []
    if 'decode' in args.sections:
        peak = matmul_flops_per_s(args.device, decode_dtype(args), n=256 if args.tiny else 8192)
        for arch in args.archs:
            rows += decode_rows(args, arch, results[f'decode_argrpo:{arch}'],
                                results.get(f'decode_llamagen:{arch}'), peak)
    for section in ('grpo', 'fsdp', 'lora'):
        if section in args.sections:
            for run_id, *_ in GRPO_RUNS[section]:
                rows += grpo_rows(args, run_id, results[run_id])
    header['wall'] = time.perf_counter() - start
    header['matmul_dtype'] = 'bf16' + ('; decoding: float32' if args.tiny else '')
    print(table(header, rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(header=header, rows=rows), f, indent=1)
    return 1 if any('error' in r for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
