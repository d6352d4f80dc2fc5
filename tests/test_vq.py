"""LlamaGen VQ tokenizer: codes and decoded pixels against an independent functional
reference that reads LlamaGen's key names straight from the state dict."""
import pytest
import torch
import torch.nn.functional as F
from argrpo_testing import randomize

from argrpo.registry import TOKENIZERS


def resblock(sd, p, x):
    h = F.conv2d(F.silu(F.group_norm(x, 32, sd[p + 'norm1.weight'], sd[p + 'norm1.bias'], 1e-6)),
                 sd[p + 'conv1.weight'], sd[p + 'conv1.bias'], padding=1)
    h = F.conv2d(F.silu(F.group_norm(h, 32, sd[p + 'norm2.weight'], sd[p + 'norm2.bias'], 1e-6)),
                 sd[p + 'conv2.weight'], sd[p + 'conv2.bias'], padding=1)
    if p + 'nin_shortcut.weight' in sd:
        x = F.conv2d(x, sd[p + 'nin_shortcut.weight'], sd[p + 'nin_shortcut.bias'])
    return x + h


def attnblock(sd, p, x):
    b, c, hh, ww = x.shape
    h = F.group_norm(x, 32, sd[p + 'norm.weight'], sd[p + 'norm.bias'], 1e-6)
    q, k, v = (F.conv2d(h, sd[p + n + '.weight'], sd[p + n + '.bias']).reshape(b, c, -1) for n in 'qkv')
    w = torch.softmax(torch.einsum('bci,bcj->bij', q, k) * c ** -0.5, dim=2)
    out = torch.einsum('bij,bcj->bci', w, v).reshape(b, c, hh, ww)
    return x + F.conv2d(out, sd[p + 'proj_out.weight'], sd[p + 'proj_out.bias'])


def run_levels(sd, prefix, x, levels, n_res, attn_level, resample):
    for i in range(levels):
        p = f'{prefix}.conv_blocks.{i}.'
        for j in range(n_res):
            x = resblock(sd, p + f'res.{j}.', x)
            if i == attn_level:
                x = attnblock(sd, p + f'attn.{j}.', x)
        if i != levels - 1:
            x = resample(sd, p, x)
    return x


def mid(sd, prefix, x):
    x = resblock(sd, f'{prefix}.mid.0.', x)
    x = attnblock(sd, f'{prefix}.mid.1.', x)
    return resblock(sd, f'{prefix}.mid.2.', x)


def out(sd, prefix, x):
    x = F.silu(F.group_norm(x, 32, sd[prefix + '.norm_out.weight'], sd[prefix + '.norm_out.bias'], 1e-6))
    return F.conv2d(x, sd[prefix + '.conv_out.weight'], sd[prefix + '.conv_out.bias'], padding=1)


def down(sd, p, x):
    return F.conv2d(F.pad(x, (0, 1, 0, 1)), sd[p + 'downsample.conv.weight'], sd[p + 'downsample.conv.bias'], stride=2)


def up(sd, p, x):
    x = x.repeat_interleave(2, 2).repeat_interleave(2, 3)
    return F.conv2d(x, sd[p + 'upsample.conv.weight'], sd[p + 'upsample.conv.bias'], padding=1)


def reference_encode(sd, images, levels=2, n_res=2):
    x = F.conv2d(images, sd['encoder.conv_in.weight'], sd['encoder.conv_in.bias'], padding=1)
    x = mid(sd, 'encoder', run_levels(sd, 'encoder', x, levels, n_res, levels - 1, down))
    z = F.conv2d(out(sd, 'encoder', x), sd['quant_conv.weight'], sd['quant_conv.bias'])
    z = F.normalize(z.permute(0, 2, 3, 1), dim=-1)
    codebook = F.normalize(sd['quantize.embedding.weight'], dim=-1)
    dist = ((z[..., None, :] - codebook) ** 2).sum(-1)
    return dist.argmin(-1).flatten(1)


def reference_decode(sd, codes, grid, levels=2, n_res=2):
    codebook = F.normalize(sd['quantize.embedding.weight'], dim=-1)
    z = codebook[codes].view(len(codes), grid, grid, -1).permute(0, 3, 1, 2)
    x = F.conv2d(z, sd['post_quant_conv.weight'], sd['post_quant_conv.bias'])
    x = mid(sd, 'decoder', F.conv2d(x, sd['decoder.conv_in.weight'], sd['decoder.conv_in.bias'], padding=1))
    x = run_levels(sd, 'decoder', x, levels, n_res + 1, 0, up)
    return out(sd, 'decoder', x).clamp(-1, 1)


def test_codes_and_pixels_match_reference(tiny_vq_cfg, save_llamagen):
    src = randomize(TOKENIZERS.build(tiny_vq_cfg), std=0.2)
    path = save_llamagen(src, name='vq.pt')
    vq = TOKENIZERS.build(dict(tiny_vq_cfg, checkpoint=path)).double().eval()
    sd = {k: v.double() for k, v in src.state_dict().items()}
    assert 'quantize.codebook_used' in sd and sd['quantize.codebook_used'].shape == (65536,)
    images = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1
    codes = vq.encode(images)
    assert codes.shape == (2, 64)
    assert torch.equal(codes, reference_encode(sd, images))
    pixels = vq.decode(codes)
    assert pixels.shape == (2, 3, 16, 16)
    torch.testing.assert_close(pixels, reference_decode(sd, codes, 8))
    # grid given explicitly, and codes as [B, h, w], decode alike
    torch.testing.assert_close(vq.decode(codes.view(2, 8, 8)), pixels)


def test_llamagen_shapes():
    with torch.device('meta'):
        vq = TOKENIZERS.build(dict(type='LlamaGenVQ', arch='VQ-16'))
        vq8 = TOKENIZERS.build(dict(type='LlamaGenVQ', arch='VQ-8'))
    assert vq.downsample == 16 and vq8.downsample == 8
    assert vq.quantize.embedding.weight.shape == (16384, 8)
    # LlamaGen reports 72M parameters for its VQ-16 tokenizer
    assert 71e6 < sum(p.numel() for p in vq.parameters()) < 73e6


def test_bad_codes_and_checkpoints(tiny_vq_cfg, tmp_path):
    vq = TOKENIZERS.build(tiny_vq_cfg)
    with pytest.raises(ValueError, match=r'codes must lie in \[0, 64\)'):
        vq.decode(torch.full((1, 64), 64))
    with pytest.raises(ValueError, match='not a square grid'):
        vq.decode(torch.zeros(1, 10, dtype=torch.long))
    with pytest.raises(FileNotFoundError, match='vq_ds16_c2i'):
        TOKENIZERS.build(dict(tiny_vq_cfg, checkpoint=str(tmp_path / 'vq_ds16_c2i.pt')))
