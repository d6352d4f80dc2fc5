"""LlamaGen GPT: logits and greedy samples against an independent float64 reference written
from LlamaGen's definition (explicit per-position attention, rotary angles from grid rows and
columns), checkpoints in LlamaGen's layouts, and clear errors."""
import math

import pytest
import torch
import torch.nn.functional as F
from argrpo_testing import randomize

from argrpo.registry import GENERATORS
from argrpo.samplers import TokenSampler


def rms(x, w, eps=1e-5):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate(x, n, grid, cond_len):
    """x [H, D] at sequence position n: zero at condition positions, else 2D rotary."""
    if n < cond_len:
        return torch.zeros_like(x)
    idx = n - cond_len
    row, col = divmod(idx, grid)
    D = x.shape[-1]
    out = x.clone()
    for p in range(D // 2):
        quarter = D // 4
        j = p if p < quarter else p - quarter
        angle = (row if p < quarter else col) * (10000.0 ** (-2 * j / (D // 2)))
        c, s = math.cos(angle), math.sin(angle)
        a, b = x[..., 2 * p], x[..., 2 * p + 1]
        out[..., 2 * p], out[..., 2 * p + 1] = a * c - b * s, b * c + a * s
    return out


def reference_logits(sd, cfg, tokens, cond, cond_mask=None):
    sd = {k: v.double() for k, v in sd.items()}
    H, L = cfg['n_head'], cfg['n_layer']
    grid = int(cfg['block_size'] ** 0.5)
    if cfg.get('model_type', 'c2i') == 'c2i':
        cond_emb, T = sd['cls_embedding.embedding_table.weight'][cond][:, None], 1
    else:
        h = cond.double() @ sd['cls_embedding.cap_proj.fc1.weight'].t()
        cond_emb = F.gelu(h, approximate='tanh') @ sd['cls_embedding.cap_proj.fc2.weight'].t()
        T = cond.shape[1]
    x = torch.cat([cond_emb, sd['tok_embeddings.weight'][tokens[:, :-1]]], 1)
    B, S, dim = x.shape
    hd = dim // H
    valid = torch.ones(B, S, dtype=torch.bool)
    if cond_mask is not None:
        valid[:, :T] = cond_mask
    for layer in range(L):
        p = f'layers.{layer}.'
        h = rms(x, sd[p + 'attention_norm.weight'])
        q, k, v = (h @ sd[p + 'attention.wqkv.weight'].t()).split(dim, -1)
        out = torch.zeros_like(x)
        for b in range(B):
            qs = torch.stack([rotate(q[b, n].view(H, hd), n, grid, T) for n in range(S)])
            ks = torch.stack([rotate(k[b, n].view(H, hd), n, grid, T) for n in range(S)])
            vs = v[b].view(S, H, hd)
            for i in range(S):
                keys = [j for j in range(i + 1) if valid[b, j] or j == i]
                att = torch.einsum('hd,khd->hk', qs[i], ks[keys]) / math.sqrt(hd)
                out[b, i] = torch.einsum('hk,khd->hd', att.softmax(-1), vs[keys]).reshape(dim)
        x = x + out @ sd[p + 'attention.wo.weight'].t()
        h = rms(x, sd[p + 'ffn_norm.weight'])
        ff = F.silu(h @ sd[p + 'feed_forward.w1.weight'].t()) * (h @ sd[p + 'feed_forward.w3.weight'].t())
        x = x + ff @ sd[p + 'feed_forward.w2.weight'].t()
    return (rms(x, sd['norm.weight']) @ sd['output.weight'].t())[:, T - 1:]


def reference_greedy(sd, cfg, cond, null, cfg_scale, cond_mask=None):
    B, L = len(cond), cfg['block_size']
    tokens = torch.zeros(B, 0, dtype=torch.long)
    for _ in range(L):
        padded = torch.cat([tokens, torch.zeros(B, 1, dtype=torch.long)], 1)
        logits = reference_logits(sd, cfg, padded, cond, cond_mask)[:, -1]
        if cfg_scale > 1:
            u = reference_logits(sd, cfg, padded, null, cond_mask)[:, -1]
            logits = u + cfg_scale * (logits - u)
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], 1)
    return tokens


def build(cfg, **kw):
    return GENERATORS.build(dict(cfg, **kw))


@pytest.mark.parametrize('wrapper', ['model', 'module', 'state_dict', None])
def test_checkpoint_layouts_load_and_logits_match_reference(tiny_gpt_cfg, save_llamagen, wrapper):
    src = randomize(build(tiny_gpt_cfg))
    path = save_llamagen(src, wrapper=wrapper)
    model = build(tiny_gpt_cfg, checkpoint=path).eval()
    tokens = torch.randint(0, 64, (2, 16))
    cond = torch.tensor([3, 7])
    ref = reference_logits(src.state_dict(), tiny_gpt_cfg, tokens, cond)
    got = model(tokens, cond)
    assert got.shape == (2, 16, 64)
    torch.testing.assert_close(got.double(), ref, atol=1e-4, rtol=1e-4)


def test_t2i_logits_match_reference_with_padding_mask(tiny_t2i_cfg, save_llamagen):
    src = randomize(build(tiny_t2i_cfg))
    model = build(tiny_t2i_cfg, checkpoint=save_llamagen(src)).eval()
    caps = torch.randn(2, 6, 24)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    caps[0, :2] = 0  # left padding, zeroed as LlamaGen feeds it
    tokens = torch.randint(0, 64, (2, 16))
    ref = reference_logits(src.state_dict(), tiny_t2i_cfg, tokens, caps, mask)
    torch.testing.assert_close(model(tokens, caps, mask).double(), ref, atol=1e-4, rtol=1e-4)
    # padded positions are invisible to the image tokens: changing them changes nothing
    caps2 = caps.clone()
    caps2[0, :2] = torch.randn(2, 24)
    torch.testing.assert_close(model(tokens, caps2, mask)[0], model(tokens, caps, mask)[0])


@pytest.mark.parametrize('cfg_scale', [1.0, 4.0])
def test_greedy_sampling_matches_reference(tiny_gpt_cfg, cfg_scale):
    model = randomize(build(tiny_gpt_cfg)).eval()
    cond = torch.tensor([1, 5, 9])
    got = model.sample(cond, TokenSampler(cfg_scale=cfg_scale, greedy=True)).tokens
    ref = reference_greedy(model.state_dict(), tiny_gpt_cfg, cond, torch.full_like(cond, 10), cfg_scale)
    assert torch.equal(got, ref)


def test_t2i_greedy_sampling_with_cfg_matches_reference(tiny_t2i_cfg):
    model = randomize(build(tiny_t2i_cfg)).eval()
    caps = torch.randn(2, 6, 24)
    mask = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    caps[0, 0] = 0
    got = model.sample(caps, TokenSampler(cfg_scale=3.0, greedy=True), cond_mask=mask).tokens
    null = model.cls_embedding.uncond_embedding.detach().expand_as(caps)
    ref = reference_greedy(model.state_dict(), tiny_t2i_cfg, caps, null, 3.0, mask)
    assert torch.equal(got, ref)


# LlamaGen's Table 1 (class-conditional, 1000 classes, VQ-16), +- half a unit of its last digit
@pytest.mark.parametrize('arch,published,tolerance', [
    ('GPT-B', 111e6, 0.5e6), ('GPT-L', 343e6, 0.5e6), ('GPT-XL', 775e6, 0.5e6),
    ('GPT-XXL', 1.4e9, 0.05e9), ('GPT-3B', 3.1e9, 0.05e9)])
def test_arch_sizes_match_llamagen_parameter_counts(arch, published, tolerance):
    with torch.device('meta'):
        model = build(dict(type='LlamaGenGPT', arch=arch))
    assert abs(sum(p.numel() for p in model.parameters()) - published) <= tolerance


def test_grouped_kv_heads(tiny_gpt_cfg):
    model = randomize(build(tiny_gpt_cfg, n_kv_head=2)).eval()
    assert model.layers[0].attention.wqkv.out_features == (4 + 2 * 2) * 16
    cond = torch.tensor([0, 1])
    sampler = TokenSampler(cfg_scale=2.0, greedy=True)
    tokens = model.sample(cond, sampler).tokens
    # the cached decode and the teacher-forced forward agree
    logits = model(torch.cat([tokens, tokens]), torch.cat([cond, torch.full_like(cond, 10)]))
    mixed = logits[2:] + 2.0 * (logits[:2] - logits[2:])
    assert torch.equal(mixed.argmax(-1), tokens)


def test_wrong_checkpoint_is_a_clear_error(tiny_gpt_cfg, save_llamagen, tmp_path):
    other = build(tiny_gpt_cfg, dim=32, n_head=2)
    with pytest.raises(RuntimeError, match='shape mismatch: cls_embedding'):
        build(tiny_gpt_cfg, checkpoint=save_llamagen(other))
    state = build(tiny_gpt_cfg).state_dict()
    state['extra.weight'] = torch.zeros(1)
    del state['norm.weight']
    torch.save({'model': state}, tmp_path / 'bad.pt')
    with pytest.raises(RuntimeError, match=r'missing in file: norm.weight.*not in model: extra.weight'):
        build(tiny_gpt_cfg, checkpoint=str(tmp_path / 'bad.pt'))
    with pytest.raises(FileNotFoundError, match='nowhere.pt'):
        build(tiny_gpt_cfg, checkpoint=str(tmp_path / 'nowhere.pt'))


class Payload:
    def __reduce__(self):
        return (print, ('pickled code ran',))


def test_pickled_code_is_refused(tiny_gpt_cfg, tmp_path, capsys):
    torch.save({'model': Payload()}, tmp_path / 'evil.pt')
    with pytest.raises(RuntimeError, match='weights_only'):
        build(tiny_gpt_cfg, checkpoint=str(tmp_path / 'evil.pt'))
    assert 'pickled code ran' not in capsys.readouterr().out


def test_bad_conditions_are_clear_errors(tiny_gpt_cfg, tiny_t2i_cfg):
    model = build(tiny_gpt_cfg)
    with pytest.raises(ValueError, match=r'class ids must lie in \[0, 10\)'):
        model.sample(torch.tensor([10]), TokenSampler())
    with pytest.raises(ValueError, match='class ids'):
        model.sample(torch.randn(2), TokenSampler())
    with pytest.raises(ValueError, match='null class'):
        build(tiny_gpt_cfg, class_dropout_prob=0.0).sample(torch.tensor([1]), TokenSampler(cfg_scale=2))
    with pytest.raises(ValueError, match=r'caption features \[B, 6, 24\]'):
        build(tiny_t2i_cfg).sample(torch.randn(1, 5, 24), TokenSampler())
