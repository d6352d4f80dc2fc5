"""LlamaGen's VQ image tokenizer (VQGAN-style encoder/decoder with a vector quantiser).

Module and parameter names follow LlamaGen's ``tokenizer/tokenizer_image/vq_model.py`` so its
``vq_ds8_c2i.pt`` / ``vq_ds16_c2i.pt`` / ``vq_ds16_t2i.pt`` files load unchanged.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from argrpo.registry import TOKENIZERS
from argrpo.utils import load_weights

ARCHS = {'VQ-8': (1, 2, 2, 4), 'VQ-16': (1, 1, 2, 2, 4)}
HOW_TO_GET = ('Download the LlamaGen tokenizer (e.g. vq_ds16_c2i.pt) from the LlamaGen release '
              'and set tokenizer.checkpoint in the config.')


class Normalize(nn.GroupNorm):

    def __init__(self, channels: int, groups: int):
        super().__init__(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):

    def __init__(self, cin: int, cout: int, groups: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = Normalize(cin, groups), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.conv2 = Normalize(cout, groups), nn.Conv2d(cout, cout, 3, 1, 1)
        self.dropout = nn.Dropout(dropout)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.nin_shortcut(x) if hasattr(self, 'nin_shortcut') else x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all spatial positions."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = Normalize(channels, groups)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(channels, channels, 1) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        hn = self.norm(x)
        q, k, v = (proj(hn).flatten(2).transpose(1, 2) for proj in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj_out(out.transpose(1, 2).reshape(b, c, h, w))


class Downsample(nn.Module):

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


def _level(cin: int, cout: int, n_blocks: int, attn: bool, groups: int,
           dropout: float) -> nn.Module:
    level = nn.Module()
    level.res = nn.ModuleList(
        ResnetBlock(cin if i == 0 else cout, cout, groups, dropout) for i in range(n_blocks))
    level.attn = nn.ModuleList(AttnBlock(cout, groups) for _ in range(n_blocks if attn else 0))
    return level


def _mid(channels: int, groups: int, dropout: float) -> nn.ModuleList:
    return nn.ModuleList([ResnetBlock(channels, channels, groups, dropout),
                          AttnBlock(channels, groups),
                          ResnetBlock(channels, channels, groups, dropout)])


def _run_level(level: nn.Module, h: Tensor) -> Tensor:
    for i, res in enumerate(level.res):
        h = res(h)
        if len(level.attn):
            h = level.attn[i](h)
    return h


class Encoder(nn.Module):
    """Images [B, 3, H, W] -> features [B, z, H/f, W/f], f = 2 ** (len(ch_mult) - 1)."""

    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, z_channels: int,
                 groups: int, dropout: float):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, 1, 1)
        self.conv_blocks = nn.ModuleList()
        cin, last = ch, len(ch_mult) - 1
        for i, mult in enumerate(ch_mult):
            level = _level(cin, ch * mult, num_res_blocks, i == last, groups, dropout)
            cin = ch * mult
            if i != last:
                level.downsample = Downsample(cin)
            self.conv_blocks.append(level)
        self.mid = _mid(cin, groups, dropout)
        self.norm_out = Normalize(cin, groups)
        self.conv_out = nn.Conv2d(cin, z_channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.conv_blocks:
            h = _run_level(level, h)
            if hasattr(level, 'downsample'):
                h = level.downsample(h)
        for block in self.mid:
            h = block(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Features [B, z, h, w] -> images [B, 3, h*f, w*f]; levels run from coarse to fine."""

    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, z_channels: int,
                 groups: int, dropout: float):
        super().__init__()
        cin = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, cin, 3, 1, 1)
        self.mid = _mid(cin, groups, dropout)
        self.conv_blocks = nn.ModuleList()
        last = len(ch_mult) - 1
        for i in reversed(range(len(ch_mult))):
            level = _level(cin, ch * ch_mult[i], num_res_blocks + 1, i == last, groups, dropout)
            cin = ch * ch_mult[i]
            if i != 0:
                level.upsample = Upsample(cin)
            self.conv_blocks.append(level)
        self.norm_out = Normalize(cin, groups)
        self.conv_out = nn.Conv2d(cin, 3, 3, 1, 1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.conv_in(z)
        for block in self.mid:
            h = block(h)
        for level in self.conv_blocks:
            h = _run_level(level, h)
            if hasattr(level, 'upsample'):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest-code lookup, with l2-normalised codes and inputs by default (LlamaGen)."""

    def __init__(self, codebook_size: int, embed_dim: int, l2_norm: bool, show_usage: bool,
                 commit_beta: float = 0.25):
        super().__init__()
        self.l2_norm, self.commit_beta = l2_norm, commit_beta
        self.embedding = nn.Embedding(codebook_size, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / codebook_size, 1.0 / codebook_size)
        if show_usage:  # kept for checkpoint compatibility; LlamaGen logs codebook usage with it
            self.register_buffer('codebook_used', torch.zeros(65536))

    def codebook(self) -> Tensor:
        weight = self.embedding.weight
        return F.normalize(weight, dim=-1) if self.l2_norm else weight

    def forward(self, z: Tensor) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """z [B, C, h, w] -> (straight-through z_q [B, C, h, w], codes [B, h, w], losses)."""
        z = z.permute(0, 2, 3, 1)
        if self.l2_norm:
            z = F.normalize(z, dim=-1)
        codebook = self.codebook()
        flat = z.reshape(-1, z.shape[-1])
        dist = (flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1)
                - 2 * flat @ codebook.t())
        codes = dist.argmin(1)
        z_q = codebook[codes].view(z.shape)
        losses = {'loss_codebook': F.mse_loss(z_q, z.detach()),
                  'loss_commit': self.commit_beta * F.mse_loss(z, z_q.detach())}
        z_q = z + (z_q - z).detach()
        return z_q.permute(0, 3, 1, 2), codes.view(z.shape[:3]), losses


@TOKENIZERS.register_module()
class LlamaGenVQ(BaseModule):
    """LlamaGen VQ tokenizer: ``encode`` images in [-1, 1] to codes, ``decode`` codes back.

    Args:
        arch: 'VQ-16' (16x downsampling) or 'VQ-8'; ``ch_mult`` overrides it.
        checkpoint: a LlamaGen ``{'model': state_dict}`` file (or safetensors), loaded strictly.
    """

    def __init__(self, arch: str = 'VQ-16', codebook_size: int = 16384,
                 codebook_embed_dim: int = 8, codebook_l2_norm: bool = True,
                 codebook_show_usage: bool = True, ch: int = 128,
                 ch_mult: Optional[Sequence[int]] = None, num_res_blocks: int = 2,
                 z_channels: int = 256, norm_groups: int = 32, dropout: float = 0.0,
                 commit_beta: float = 0.25, checkpoint: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if ch_mult is None:
            if arch not in ARCHS:
                raise ValueError(f'Unknown VQ arch {arch!r}; choose from {sorted(ARCHS)} '
                                 'or give ch_mult')
            ch_mult = ARCHS[arch]
        self.codebook_size = codebook_size
        self.downsample = 2 ** (len(ch_mult) - 1)
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, z_channels, norm_groups, dropout)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, z_channels, norm_groups, dropout)
        self.quantize = VectorQuantizer(codebook_size, codebook_embed_dim, codebook_l2_norm,
                                        codebook_show_usage, commit_beta)
        self.quant_conv = nn.Conv2d(z_channels, codebook_embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(codebook_embed_dim, z_channels, 1)
        if checkpoint is not None:
            load_weights(self, checkpoint, 'VQ tokenizer checkpoint', HOW_TO_GET)

    def quantize_images(self, images: Tensor) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """images [B, 3, H, W] in [-1, 1] -> (z_q, codes [B, h, w], codebook losses)."""
        return self.quantize(self.quant_conv(self.encoder(images)))

    def encode(self, images: Tensor) -> Tensor:
        """images [B, 3, H, W] in [-1, 1] -> codes [B, (H/f)*(W/f)], raster order."""
        return self.quantize_images(images)[1].flatten(1)

    def decode_latents(self, z_q: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(z_q))

    def decode(self, codes: Tensor, grid: Optional[Tuple[int, int]] = None) -> Tensor:
        """codes [B, h*w] (or [B, h, w]) -> images [B, 3, h*f, w*f] clamped to [-1, 1]."""
        if codes.dim() == 3:
            grid, codes = tuple(codes.shape[1:]), codes.flatten(1)
        if grid is None:
            side = int(round(codes.shape[1] ** 0.5))
            if side * side != codes.shape[1]:
                raise ValueError(f'{codes.shape[1]} codes are not a square grid; pass grid=')
            grid = (side, side)
        if codes.min() < 0 or codes.max() >= self.codebook_size:
            raise ValueError(f'codes must lie in [0, {self.codebook_size}), got '
                             f'[{int(codes.min())}, {int(codes.max())}]')
        z_q = self.quantize.codebook()[codes].view(codes.shape[0], *grid, -1)
        return self.decode_latents(z_q.permute(0, 3, 1, 2)).clamp(-1, 1)

    def forward(self, images: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Reconstruction (straight-through) and codebook losses, for tokenizer training."""
        z_q, _, losses = self.quantize_images(images)
        return self.decode_latents(z_q), losses
