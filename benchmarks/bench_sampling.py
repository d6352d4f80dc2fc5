"""Image tokens per second of class-conditional sampling, argrpo's decoder against two others.

    python benchmarks/bench_sampling.py [--arch GPT-B] [--batch 8] [--tokens 256] [--cfg 4.0]
        [--device cpu|cuda] [--dtype float32|bfloat16] [--decode auto|dynamic|static|compiled]

* argrpo: ``LlamaGenGPT.sample`` with inverse-CDF token draws and the decode path ``--decode``
  ('auto': on CPU the dynamic one, the KV cache read only up to the filled position with oneDNN
  prepacked weights; on CUDA the static-shape step under torch.compile, replayed as a CUDA graph).
* static-cache: the plain gpt-fast / LlamaGen decoder, uncompiled: a static cache of the full
  length, attention over all of it under a boolean mask indexed by position, default
  ``F.linear``, ``torch.multinomial``.
* naive: no cache; the whole prefix is recomputed at every step.

Random weights (N(0, 0.02)) in float32, run in ``--dtype`` (bfloat16: autocast, as training with
--amp); CFG doubles the rows. Warm-up runs (compilation, CUDA graph recording) are not timed.
Also prints the device (the card on CUDA), its matmul throughput in that dtype, measured in the
same run, and the fraction of it each decoder reaches.
"""
import argparse
import contextlib
import os.path as osp
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from argrpo.generators import LlamaGenGPT  # noqa: E402
from argrpo.generators.base import DECODE_PATHS  # noqa: E402
from argrpo.generators.gpt import apply_rope  # noqa: E402
from argrpo.samplers import TokenSampler  # noqa: E402


def static_cache_sample(model, cond, cfg_scale, num_tokens, cache_dtype=torch.float32):
    """LlamaGen's generate(): full-length static cache, masked attention, multinomial draws."""
    B = len(cond)
    rows = torch.cat([cond, torch.full_like(cond, model.num_classes)])
    N, max_len = len(rows), -(-(num_tokens + 1) // 8) * 8
    att0 = model.layers[0].attention
    shape = (N, att0.n_kv_head, max_len, att0.head_dim)
    caches = [(torch.zeros(shape, dtype=cache_dtype, device=cond.device),
               torch.zeros(shape, dtype=cache_dtype, device=cond.device)) for _ in model.layers]
    causal = torch.tril(torch.ones(max_len, max_len, dtype=torch.bool, device=cond.device))
    causal = causal[None].repeat(N, 1, 1)

    def step(h, input_pos):
        mask = causal[:, None, input_pos]
        rope = model.freqs_cis[input_pos]
        for layer, (kc, vc) in zip(model.layers, caches):
            att = layer.attention
            x = layer.attention_norm(h)
            q, k, v = att.wqkv(x).split([att.n_head * att.head_dim] + [att.n_kv_head * att.head_dim] * 2, -1)
            q = apply_rope(q.view(N, -1, att.n_head, att.head_dim), rope).transpose(1, 2)
            k = apply_rope(k.view(N, -1, att.n_kv_head, att.head_dim), rope).transpose(1, 2)
            kc[:, :, input_pos] = k
            vc[:, :, input_pos] = v.view(N, -1, att.n_kv_head, att.head_dim).transpose(1, 2)
            out = F.scaled_dot_product_attention(q, kc, vc, attn_mask=mask)
            h = h + att.wo(out.transpose(1, 2).reshape(N, -1, att.n_head * att.head_dim))
            h = h + layer.feed_forward(layer.ffn_norm(h))
        logits = model.output(model.norm(h))[:, -1].float()
        mixed = logits[B:] + cfg_scale * (logits[:B] - logits[B:])
        return torch.multinomial(mixed.softmax(-1), 1)[:, 0]

    tokens = [step(model.cls_embedding(rows), torch.tensor([0], device=cond.device))]
    for t in range(1, num_tokens):
        h = model.tok_embeddings(tokens[-1].repeat(2))[:, None]
        tokens.append(step(h, torch.tensor([t], device=cond.device)))
    return torch.stack(tokens, 1)


def naive_sample(model, cond, cfg_scale, num_tokens):
    """Recompute the whole prefix at every step (no cache)."""
    B = len(cond)
    rows = torch.cat([cond, torch.full_like(cond, model.num_classes)])
    tokens = torch.empty(B, 0, dtype=torch.long, device=cond.device)
    for _ in range(num_tokens):
        h = torch.cat([model.cls_embedding(rows), model.tok_embeddings(tokens.repeat(2, 1))], 1)
        logits = model.head(model._run(h, 0, None)[:, -1])
        mixed = logits[B:] + cfg_scale * (logits[:B] - logits[B:])
        tokens = torch.cat([tokens, torch.multinomial(mixed.softmax(-1), 1)], 1)
    return tokens


def matmul_flops_per_s(device, dtype, n=2048, reps=10):
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float('inf')
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def decode_flops(model, rows, num_tokens, prefix_recompute=False):
    """Matmul FLOPs of one rollout: linear layers + attention scores and values."""
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    att = model.layers[0].attention
    attn_per_pos = 4 * len(model.layers) * att.n_head * att.head_dim  # QK^T and AV per key
    total = 0
    for t in range(num_tokens):
        new = t + 1 if prefix_recompute else 1
        keys = t + 1
        total += rows * (2 * linear * new + attn_per_pos * keys * new)
    return total


def run(name, fn, device, tokens_out, flops, peak):
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        fn()
    sync(device)
    seconds = time.perf_counter() - start
    rate = tokens_out / seconds
    print(f'  {name:<19} {seconds:8.2f} s  {rate:9.1f} image tokens/s  '
          f'{flops / seconds / 1e9:8.1f} GFLOP/s  ({100 * flops / seconds / peak:5.1f}% of matmul peak)')
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='GPT-B')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--tokens', type=int, default=256)
    parser.add_argument('--cfg', type=float, default=4.0)
    parser.add_argument('--skip-naive', action='store_true')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
    parser.add_argument('--decode', default='auto', choices=DECODE_PATHS, help="argrpo's decode path")
    args = parser.parse_args()
    torch.manual_seed(0)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    model = LlamaGenGPT(args.arch, block_size=args.tokens).to(device).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    cond = torch.arange(args.batch, device=device)
    sampler = TokenSampler(cfg_scale=args.cfg)
    path = model.decode_path(args.decode, device)
    peak = matmul_flops_per_s(device, dtype)
    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'cpu ({torch.get_num_threads()} threads)')
    print(f'{args.arch} on {where}: batch {args.batch}, {args.tokens} tokens, CFG {args.cfg}, '
          f'{args.dtype}{" autocast" if dtype != torch.float32 else ""}; '
          f'matmul peak {peak / 1e9:.1f} GFLOP/s')
    out, rows = args.batch * args.tokens, 2 * args.batch
    precision = torch.autocast(device.type, dtype) if dtype != torch.float32 else contextlib.nullcontext()
    with precision:
        with torch.no_grad():  # warm-up; static shapes depend on the length: compile and record at it
            model.sample(cond, sampler, num_tokens=4 if path == 'dynamic' else args.tokens, decode=path)
            static_cache_sample(model, cond, args.cfg, 4, dtype)
        ours = run(f'argrpo ({path})', lambda: model.sample(cond, sampler, decode=path), device, out,
                   decode_flops(model, rows, args.tokens), peak)
        static = run('static-cache', lambda: static_cache_sample(model, cond, args.cfg, args.tokens, dtype),
                     device, out, decode_flops(model, rows, args.tokens), peak)
        print(f'  argrpo / static-cache: {ours / static:.2f}x')
        if not args.skip_naive:
            naive = run('naive', lambda: naive_sample(model, cond, args.cfg, args.tokens), device, out,
                        decode_flops(model, rows, args.tokens, prefix_recompute=True), peak)
            print(f'  argrpo / naive: {ours / naive:.2f}x')


if __name__ == '__main__':
    main()
