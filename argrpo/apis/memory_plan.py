"""Memory of AR-GRPO training per GPU, from a config: the formulas of ``tools/memory_plan.py``
and of the README's table, and a measurement to check them against.

What the figures rest on (read from the code of ``ARGRPOModel``, ``LlamaGenGPT``,
``ARImageGenerator.log_prob``, ``TokenSampler`` and ``AutocastOptimWrapper``):

- The policy's parameters are float32 (autocast keeps float32 masters); gradients float32 for
  each trained parameter; optimizer state float32: AdamW / Adam 2 per trained parameter (3 with
  amsgrad), SGD with momentum 1, SGD 0. Gradients are None outside an update
  (``zero_grad(set_to_none=True)``), so rollouts do not hold them.
- The reference is a frozen float32 copy of the policy when ``algorithm.beta > 0``; none under
  LoRA (the base with the adapters off). LoRA (``model.lora=dict(r, target_modules)``; default
  r=16 on every linear of the blocks) trains only the adapters, r * (in + out) per targeted
  linear; activations are taken as without LoRA (the adapters' [rows, positions, r] are small).
- Frozen models: the VQ tokenizer counted by building it on the meta device; the T5 encoder from
  its ``config.json`` if the directory exists, else FLAN-T5-XL's (24 layers, 2048 / 5120, vocab
  32128: 1.22 B parameters in the encoder, which is all ``T5TextEncoder`` loads); reward models
  from published parameter counts (``REWARD_PARAMS``), served rewards (``RemoteReward``) none.
- Under autocast (``AutocastOptimWrapper``) the KV cache and linear outputs are 16-bit; the
  residual stream, RMSNorm and rotary embeddings stay float32 (as the code computes them), and
  autocast's cast cache holds 16-bit copies of the policy's linear weights during a rollout
  chunk and, saved for backward, during an update (whatever FSDP does: counted whole).
- Activations of an update: per block, the tensors autograd saves (``block_bytes``); attention
  by a fused kernel (flash / memory-efficient, no [S, S] matrix: [rows, heads, S] log-sum-exp
  only); with ``activation_checkpointing`` each block's float32 input plus one block recomputed.
  The output head and the sampler's log-softmax hold ``logit_buffers`` float32 [samples,
  positions, V] tensors at their peak (positions = ``log_prob_chunk`` when set). An update's
  peak is the larger of (all activations + the head's gradient) and (all gradients): backward
  frees activations as it makes gradients.
- Data parallel: DDP keeps gradient buckets as large as the gradients on more than one GPU;
  FSDP shards parameters, gradients, optimizer state and the reference by the number of GPUs,
  gathers the whole policy for a rollout and about two blocks (plus one block's gradients) at a
  time in an update.
- Rollout: one KV cache per layer, k and v [rows, n_kv_head, cls_token_num + block_size - 1,
  head_dim], rows = chunk samples x 2 with CFG; a few [rows, V] float32 logits per step. On
  CUDA the static / compiled decoder (``decoder='auto'``, not under FSDP) keeps its caches for
  the next rollout, so they count in every phase. On a
  CPU in float32, ``onednn_linears`` also holds a reordered copy of every linear weight. VQ
  decoding of a chunk: about five float32 feature maps at full resolution and the first
  level's channels (a rough figure, from one measurement).
- CUDA's foreach AdamW makes one float32 temporary per trained parameter during the step.
- Not counted: the CUDA context and allocator fragmentation (``torch.cuda.max_memory_allocated``
  is what the plan compares to), data, the experience tensors ([samples, L] each), reward-model
  activations, and the no-grad scoring of old / reference log-probs (below an update's peak).
"""
import inspect
import json
import os.path as osp
import resource
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config

GiB = 2 ** 30
LORA_DEFAULT = dict(r=16, target_modules=('wqkv', 'wo', 'w1', 'w2', 'w3'))  # argrpo.models.lora's targets
# published parameter counts of the reward models argrpo's configs use, by (type, arch or metric)
REWARD_PARAMS = {
    ('CLIPScore', 'ViT-B-32'): (151_277_313, 4), ('CLIPRealism', 'ViT-B-32'): (151_277_313, 4),
    ('CLIPScore', 'ViT-B-32-quickgelu'): (151_277_313, 4), ('CLIPRealism', 'ViT-B-32-quickgelu'): (151_277_313, 4),
    ('CLIPScore', 'ViT-L-14'): (427_616_513, 4), ('CLIPScore', 'ViT-L-14-quickgelu'): (427_616_513, 4), ('HPSv2', 'ViT-H-14'): (986_109_121, 4),
    ('IQAReward', 'maniqa'): (135_750_000, 4), ('VLMJudge', None): (3_754_622_976, 2),
    ('RemoteReward', None): (0, 4), ('GradientReward', None): (0, 4),
}
T5_XL = dict(d_model=2048, d_ff=5120, num_layers=24, num_heads=32, d_kv=64, vocab_size=32128,
             feed_forward_proj='gated-gelu')
OPTIMIZER_STATES = {'AdamW': 2, 'Adam': 2, 'SGD': 0}


@dataclass(frozen=True)
class GPTShape:
    """What the memory of a ``LlamaGenGPT`` depends on."""
    n_layer: int
    n_head: int
    n_kv_head: int
    dim: int
    hidden: int
    vocab: int
    block_size: int
    cls_token_num: int
    cond_params: int
    caption_dim: int = 0  # t2i only

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_head

    @property
    def seq(self) -> int:
        """Positions of a teacher-forced pass and of the KV cache."""
        return self.cls_token_num + self.block_size - 1

    def linears(self) -> List[Tuple[str, int, int]]:
        """(name, in, out) of every linear layer, the blocks' once per layer."""
        kv = self.n_kv_head * self.head_dim
        block = [('wqkv', self.dim, self.dim + 2 * kv), ('wo', self.dim, self.dim),
                 ('w1', self.dim, self.hidden), ('w3', self.dim, self.hidden), ('w2', self.hidden, self.dim)]
        cond = [('fc1', self.caption_dim, self.dim), ('fc2', self.dim, self.dim)] if self.caption_dim else []
        return block * self.n_layer + cond + [('output', self.dim, self.vocab)]


def gpt_shape(generator: dict) -> GPTShape:
    """The shape of the ``LlamaGenGPT`` a generator config builds (its defaults where unset)."""
    from argrpo.generators.gpt import ARCHS, LlamaGenGPT
    cfg = {name: p.default for name, p in inspect.signature(LlamaGenGPT).parameters.items()
           if p.default is not inspect.Parameter.empty}
    cfg.update({k: v for k, v in generator.items() if k != 'type'})
    preset = ARCHS.get(cfg['arch'], (None, ) * 3)
    n_layer, n_head, dim = (cfg[k] if cfg[k] is not None else p for k, p in zip(('n_layer', 'n_head', 'dim'), preset))
    hidden = int(2 * 4 * dim / 3)
    if cfg['ffn_dim_multiplier'] is not None:
        hidden = int(cfg['ffn_dim_multiplier'] * hidden)
    hidden = -(-hidden // cfg['multiple_of']) * cfg['multiple_of']
    t2i = cfg['model_type'] == 't2i'
    cls = cfg['cls_token_num'] or (120 if t2i else 1)
    if t2i:
        cond = cfg['caption_dim'] * dim + dim * dim + cls * cfg['caption_dim']
    else:
        cond = (cfg['num_classes'] + int(cfg['class_dropout_prob'] > 0)) * dim
    return GPTShape(n_layer, n_head, cfg['n_kv_head'] or n_head, dim, hidden, cfg['vocab_size'], cfg['block_size'],
                    cls, cond, cfg['caption_dim'] if t2i else 0)


def gpt_params(shape: GPTShape) -> int:
    """Parameters of the GPT: condition embedding, token embedding, blocks (linears and two
    RMSNorms each), final RMSNorm and output layer."""
    linear = sum(i * o for name, i, o in shape.linears() if name not in ('fc1', 'fc2'))
    return (shape.cond_params + shape.vocab * shape.dim + linear + 2 * shape.dim * shape.n_layer + shape.dim)


def linear_params(shape: GPTShape) -> int:
    """Parameters of the linear layers: those autocast casts to 16 bits."""
    return sum(i * o for _, i, o in shape.linears())


def lora_params(shape: GPTShape, r: int, target_modules) -> int:
    """Adapter parameters: r * (in + out) for every linear whose name is targeted."""
    return sum(r * (i + o) for name, i, o in shape.linears() if name in target_modules)


def block_bytes(shape: GPTShape, rows: int, amp: bool) -> int:
    """Bytes one transformer block saves for backward over ``rows`` x ``shape.seq`` positions:
    its float32 input (kept by the first RMSNorm), each RMSNorm's normalised float32 tensor and
    rsqrt, the linears' inputs (16-bit casts under autocast, one each for w1 and w3), the qkv
    output (v is a view of it; with grouped heads k and v are repeated instead), rotated q and k,
    the attention output and log-sum-exp, the float32 residual after attention, and SwiGLU's w1 /
    silu / w3 / product outputs. Checked against autograd's saved tensors in the tests."""
    c = 2 if amp else 4  # bytes of what linears and attention compute
    d, kv = shape.dim, shape.n_kv_head * shape.head_dim
    attention = c * (d + 2 * kv) + c * d + c * kv if kv == d else 3 * c * d
    per_position = (4 * d + 4 * d + c * d            # x, attention_norm's normalised x, wqkv's input
                    + attention + c * d + 4 * d      # qkv / q / k, attention output, residual h
                    + 4 * d + c * d * (2 if amp else 1)  # ffn_norm's normalised h, w1 / w3 input(s)
                    + 4 * c * shape.hidden           # w1, silu, w3, product
                    + 4 * shape.n_head + 8)          # log-sum-exp, the two rsqrt
    return rows * shape.seq * per_position


def logit_buffers(cfg_guidance: bool, entropy_grad: bool, top_p: bool) -> float:
    """How many float32 [samples, positions, V] tensors the head and the sampler hold at their
    peak: the logits of both CFG halves (2), CFG's mix (1), its selection (1), the masked logits
    (1) and the log-softmax (1); without CFG the logits (1) and the entropy's exp, masked log-probs
    and product (3) beside the log-softmax (1). A differentiable entropy keeps 2 more for
    backward, top-p's sort, indices and cumulative sum about 5."""
    return (6 if cfg_guidance else 5) + 2 * entropy_grad + 5 * top_p


def activation_bytes(shape: GPTShape, samples: int, cfg_guidance: bool, amp: bool, checkpointing: bool = False,
                     log_prob_chunk: Optional[int] = None, entropy_grad: bool = False,
                     top_p: bool = False) -> Dict[str, int]:
    """Activations of an update on ``samples`` sequences: 'blocks', 'other' (final norm, head
    input, caption MLP and mask of t2i) and 'logits' (the head and the sampler's distribution)."""
    rows = samples * (2 if cfg_guidance else 1)
    c = 2 if amp else 4
    if checkpointing:
        blocks = shape.n_layer * rows * shape.seq * 4 * shape.dim + block_bytes(shape, rows, amp)
    else:
        blocks = shape.n_layer * block_bytes(shape, rows, amp)
    other = rows * shape.seq * 8 * shape.dim + rows * shape.block_size * c * shape.dim
    if shape.caption_dim:
        other += rows * shape.cls_token_num * (shape.caption_dim + 2 * shape.dim) * c + rows * shape.seq ** 2
    positions = min(log_prob_chunk or shape.block_size, shape.block_size)
    logits = int(logit_buffers(cfg_guidance, entropy_grad, top_p) * 4 * samples * positions * shape.vocab)
    return dict(blocks=blocks, other=other, logits=logits)


def kv_cache_bytes(shape: GPTShape, rows: int, amp: bool) -> int:
    """One rollout's KV caches: k and v per layer, [rows, n_kv_head, seq, head_dim]."""
    return 2 * shape.n_layer * rows * shape.n_kv_head * shape.seq * shape.head_dim * (2 if amp else 4)


def vq_decode_bytes(tokenizer: dict, samples: int, grid: int) -> int:
    """Rough peak of decoding ``samples`` images: five float32 maps of the first level's
    channels at full resolution (VQ-16, 16 images of 192 px: 1.46 GiB measured over the built
    model on the CPU, 1.41 planned)."""
    from argrpo.tokenizers.vq_model import ARCHS
    ch_mult = tokenizer.get('ch_mult') or ARCHS[tokenizer.get('arch', 'VQ-16')]
    side = grid * 2 ** (len(ch_mult) - 1)
    return 5 * samples * tokenizer.get('ch', 128) * ch_mult[0] * side * side * 4


def t5_encoder_params(config: dict) -> int:
    """Parameters of a T5 encoder from its config: embeddings, per layer attention (q, k, v, o),
    a (gated) feed-forward and two layer norms, the final norm and the relative-position bias."""
    d, inner = config['d_model'], config['num_heads'] * config['d_kv']
    ff = (3 if config.get('feed_forward_proj', '').startswith('gated') else 2) * d * config['d_ff']
    return (config['vocab_size'] * d + config['num_layers'] * (4 * d * inner + ff + 2 * d) + d
            + config.get('relative_attention_num_buckets', 32) * config['num_heads'])


def frozen_models(model: dict) -> Dict[str, Tuple[int, int]]:
    """{name: (parameters, bytes each)} of the frozen parts, with what each figure assumes."""
    from mmengine.registry import init_default_scope

    from argrpo.registry import TOKENIZERS
    init_default_scope('argrpo')
    out = {}
    with torch.device('meta'):
        vq = TOKENIZERS.build(dict(model['tokenizer'], checkpoint=None))
    out['VQ tokenizer'] = (sum(p.numel() for p in vq.parameters()), 4)
    if model.get('text_encoder'):
        path = osp.join(model['text_encoder'].get('path') or '', 'config.json')
        t5 = json.load(open(path)) if osp.isfile(path) else T5_XL
        size = 2 if model['text_encoder'].get('dtype', 'float32') != 'float32' else 4
        out['T5 encoder' + ('' if osp.isfile(path) else ' (FLAN-T5-XL assumed)')] = (t5_encoder_params(t5), size)
    reward = model['reward']
    shared = {}  # open_clip rewards of one architecture and file share one model (load_open_clip)
    for r in reward.get('rewards', [reward]) if reward.get('type') == 'WeightedSum' else [reward]:
        key = (r['type'], r.get('arch', r.get('metric', 'ViT-H-14' if r['type'] == 'HPSv2' else None)))
        params, size = REWARD_PARAMS.get(key, REWARD_PARAMS.get((r['type'], None), (0, 4)))
        known = key in REWARD_PARAMS or (r['type'], None) in REWARD_PARAMS
        name = f"reward {r.get('name', r['type'])}"
        if r.get('checkpoint') and (key[1], r['checkpoint']) in shared:
            name, params = f'{name} (shares {shared[key[1], r["checkpoint"]]})', 0
        elif r.get('checkpoint'):
            shared[key[1], r['checkpoint']] = name
        out[name + ('' if known else ' (unknown: 0 assumed)')] = (params, size)
    return out


@dataclass
class MemoryPlan:
    """Per-GPU bytes of each part (``parts``) and of each phase of an iteration (``phases``)."""
    parts: Dict[str, int]
    phases: Dict[str, int]
    notes: Dict[str, str]

    @property
    def peak(self) -> int:
        return max(self.phases.values())

    def table(self, memory_gib: float) -> str:
        lines = [f'{"part (per GPU)":<38} {"GiB":>9}']
        lines += [f'{name:<38} {value / GiB:9.3f}' + (f'  {self.notes[name]}' if name in self.notes else '')
                  for name, value in self.parts.items() if value]
        lines += [f'{"phase: " + name:<38} {value / GiB:9.3f}' for name, value in self.phases.items()]
        verdict = 'fits' if self.peak <= memory_gib * GiB else 'does NOT fit'
        lines.append(f'{"peak":<38} {self.peak / GiB:9.3f}  ({verdict} in {memory_gib:g} GiB)')
        return '\n'.join(lines)


def plan(cfg: Config, gpus: int = 1, lora: Optional[bool] = None, fsdp: Optional[bool] = None,
         chunk: Optional[int] = None, minibatch: Optional[int] = None, device: str = 'cuda',
         frozen: Optional[Dict[str, Tuple[int, int]]] = None) -> MemoryPlan:
    """The memory of ``cfg``'s training per GPU. ``lora`` / ``fsdp``: override the config (None:
    as it says); ``chunk`` / ``minibatch``: samples per rollout chunk / update minibatch (None:
    the config's); ``device`` 'cpu' for a plan to compare with a CPU run (oneDNN weight copies
    in rollouts, no foreach temporary in the step); ``frozen``: ``frozen_models``' answer, if known."""
    model, algo, sampler = cfg.model, cfg.model.algorithm, cfg.model.sampler
    shape = gpt_shape(model.generator)
    if lora is False or not (lora or model.get('lora')):
        lora_cfg = None
    else:  # the config's (peft's r=8 where it leaves r out), else the default
        lora_cfg = dict(dict(r=8, target_modules=LORA_DEFAULT['target_modules']), **model.lora) if model.get('lora') \
            else LORA_DEFAULT
    fsdp = 'FullyShard' in str(cfg.get('model_wrapper_cfg', {}).get('type', '')) if fsdp is None else fsdp
    shard = gpus if fsdp else 1
    amp = cfg.optim_wrapper.get('type') == 'AutocastOptimWrapper'
    cfg_guidance = sampler.get('cfg_scale', 1.0) > 1.0
    group = algo.get('group_size', 8)
    samples = cfg.train_dataloader.batch_size * group
    chunk = chunk or min(model.get('rollout_chunk') or samples, samples)
    minibatch = minibatch or samples // algo.get('minibatches', 1)
    optimizer = cfg.optim_wrapper.optimizer
    states = (OPTIMIZER_STATES.get(optimizer['type'], 2) + int(bool(optimizer.get('amsgrad')))
              + int(optimizer['type'] == 'SGD' and bool(optimizer.get('momentum'))))

    base = gpt_params(shape)
    adapters = lora_params(shape, lora_cfg['r'], lora_cfg['target_modules']) if lora_cfg else 0
    trained = adapters if lora_cfg else base
    frozen = frozen or frozen_models(model)
    acts = activation_bytes(shape, minibatch, cfg_guidance, amp, model.generator.get('activation_checkpointing', False),
                            model.get('log_prob_chunk'), bool(algo.get('entropy_coef', 0.0)),
                            sampler.get('top_p', 1.0) < 1.0)
    rows = chunk * (2 if cfg_guidance else 1)
    block = (shape.linears()[0][1] * shape.linears()[0][2] + shape.dim ** 2 + 3 * shape.dim * shape.hidden
             + 2 * shape.dim)
    parts = {
        'parameters': 4 * (base + adapters) // shard,
        'gradients': 4 * trained // shard,
        'optimizer state': 4 * states * trained // shard,
        'reference': 4 * base // shard if algo.get('beta', 0.1) > 0 and not lora_cfg else 0,
        'frozen models': sum(n * size for n, size in frozen.values()),
        'DDP gradient buckets': 4 * trained if gpus > 1 and not fsdp else 0,
        'autocast 16-bit weights (update)': 2 * linear_params(shape) if amp else 0,
        'autocast 16-bit weights (rollout)': 2 * linear_params(shape) if amp and not lora_cfg else 0,
        'FSDP gathered policy (rollout)': 4 * base if fsdp and gpus > 1 else 0,
        'FSDP gathered blocks (update)': 12 * block if fsdp and gpus > 1 else 0,
        'oneDNN weight copies (CPU rollout)': 4 * linear_params(shape) if device == 'cpu' and not amp else 0,
        f'activations ({minibatch} samples)': sum(acts.values()),
        '  of which logits': acts['logits'],
        f'KV cache ({chunk} samples)': kv_cache_bytes(shape, rows, amp),
        f'VQ decode ({chunk} samples, rough)': vq_decode_bytes(model.tokenizer, chunk, int(shape.block_size ** 0.5)),
        'AdamW foreach temporary (step)': 4 * trained // shard if device == 'cuda' and states else 0,
    }
    resident = sum(parts[k] for k in ('parameters', 'optimizer state', 'reference', 'frozen models',
                                      'DDP gradient buckets'))
    head_grad = 4 * shape.dim * shape.vocab if not lora_cfg or 'output' in lora_cfg['target_modules'] else 0
    # the static / compiled decoder (CUDA's default, not under FSDP) keeps its caches between rollouts
    kept = parts[f'KV cache ({chunk} samples)'] if device == 'cuda' and not fsdp and model.get(
        'decoder', 'auto') != 'dynamic' else 0
    phases = {
        'rollout': resident + parts['autocast 16-bit weights (rollout)'] + parts['FSDP gathered policy (rollout)']
        + parts['oneDNN weight copies (CPU rollout)'] + parts[f'KV cache ({chunk} samples)']
        + 4 * rows * shape.vocab * 4,
        'decode': resident + kept + parts[f'VQ decode ({chunk} samples, rough)'],
        'update': resident + kept + parts['autocast 16-bit weights (update)'] + parts['FSDP gathered blocks (update)']
        + max(sum(acts.values()) + head_grad // shard, parts['gradients']),
        'optimizer step': resident + kept + parts['gradients'] + parts['AdamW foreach temporary (step)'],
    }
    notes = {'parameters': f'{(base + adapters) / 1e6:.1f} M' + (f' ({adapters / 1e6:.2f} M LoRA, r={lora_cfg["r"]})'
                                                                  if lora_cfg else ''),
             'frozen models': ', '.join(f'{k} {n / 1e6:.0f} M' for k, (n, _) in frozen.items() if n)}
    return MemoryPlan(parts, phases, notes)


def largest(cfg: Config, what: str, memory_gib: float, limit: int = 1 << 16, **kwargs) -> int:
    """The largest rollout chunk (``what='chunk'``: the rollout phase) or update minibatch
    (``'minibatch'``: the update phase) in samples whose phase fits ``memory_gib``; 0 if none."""
    phase = 'rollout' if what == 'chunk' else 'update'
    kwargs['frozen'] = kwargs.get('frozen') or frozen_models(cfg.model)

    def fits(n: int) -> bool:
        return plan(cfg, **{**kwargs, what: n}).phases[phase] <= memory_gib * GiB

    low, high = 0, 1
    while high <= limit and fits(high):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def peak_table(cfg: Config, archs: List[str], gpus: List[int], memory_gib: float) -> str:
    """A markdown table of planned peaks (GiB per GPU) of ``cfg`` with each GPT arch: on one GPU,
    with LoRA, and on each count of ``gpus`` > 1 with DDP and with FSDP; '(no)' where the peak
    passes ``memory_gib``."""
    setups = [('1 GPU', dict(gpus=1, fsdp=False, lora=False)), ('1 GPU, LoRA', dict(gpus=1, fsdp=False, lora=True))]
    for n in (n for n in gpus if n > 1):
        setups += [(f'{n} GPUs, DDP', dict(gpus=n, fsdp=False, lora=False)),
                   (f'{n} GPUs, FSDP', dict(gpus=n, fsdp=True, lora=False))]
    lines = ['| model | params | ' + ' | '.join(name for name, _ in setups) + ' |', '|---' * (len(setups) + 2) + '|']
    frozen = frozen_models(cfg.model)
    for arch in archs:
        arch_cfg = Config(cfg.to_dict())
        arch_cfg.model.generator.arch = arch
        peaks = [plan(arch_cfg, frozen=frozen, **kwargs).peak / GiB for _, kwargs in setups]
        params = gpt_params(gpt_shape(arch_cfg.model.generator))
        lines.append(f'| {arch} | {params / 1e9:.2f} B | ' + ' | '.join(
            f'{peak:.1f}' + (' (no)' if peak > memory_gib else '') for peak in peaks) + ' |')
    return '\n'.join(lines)


def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure_peak(cfg: Config, device: str = 'cpu') -> int:
    """Bytes one GRPO iteration of ``cfg`` (class-conditional; random weights, checkpoints
    ignored) adds at its peak, in this process: on a CPU the peak RSS over the RSS before the
    model was built, on a GPU ``max_memory_allocated``. The optimizer's state is made first by a
    step on zero gradients (no change to the weights with AdamW), so that the iteration is one
    of the steady state. Run it in a fresh process: RSS peaks are per process."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from argrpo.registry import MODELS
    init_default_scope('argrpo')
    model_cfg = dict(cfg.model, generator=dict(cfg.model.generator, checkpoint=None),
                     tokenizer=dict(cfg.model.tokenizer, checkpoint=None))
    torch.manual_seed(0)
    before = _rss() if device == 'cpu' else torch.cuda.memory_allocated()
    model = MODELS.build(model_cfg).to(device)
    with torch.no_grad():
        model.policy.output.weight.normal_(0, 0.02)  # not uniform distributions
    model.sync_reference()
    optim = build_optim_wrapper(model.policy, cfg.optim_wrapper)
    for p in model.policy.parameters():
        p.grad = torch.zeros_like(p)
    optim.step()
    optim.zero_grad()
    prompts = cfg.train_dataloader.batch_size
    data = dict(cond=list(range(prompts)), prompt=['p'] * prompts, index=list(range(prompts)), rollout_seed=0)
    if device == 'cpu':
        model.train_step(data, optim)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    torch.cuda.reset_peak_memory_stats()
    model.train_step(data, optim)
    return torch.cuda.max_memory_allocated() - before
