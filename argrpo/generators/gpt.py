"""LlamaGen's GPT: a Llama-style decoder over VQ image tokens.

Class-conditional (one class token, a null class for CFG) or text-conditional (120 T5 caption
tokens through an MLP, a learned unconditional caption). 2D rotary embeddings over the token
grid, with zero rotation rows at the condition positions; SwiGLU; RMSNorm; optional grouped KV
heads. Parameter names match LlamaGen's ``autoregressive/models/gpt.py``, so its checkpoints
load unchanged and give the same logits.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as recompute_in_backward

from argrpo.registry import GENERATORS
from argrpo.utils import load_weights
from .base import ARImageGenerator
from .kv_cache import KVCache

# LlamaGen sizes: (n_layer, n_head, dim)
ARCHS = {
    'GPT-B': (12, 12, 768), 'GPT-L': (24, 16, 1024), 'GPT-XL': (36, 20, 1280),
    'GPT-XXL': (48, 24, 1536), 'GPT-XXXL': (48, 40, 2560),
    'GPT-1B': (22, 32, 2048), 'GPT-3B': (24, 32, 3200), 'GPT-7B': (32, 32, 4096),
}
HOW_TO_GET = ('Download a LlamaGen GPT checkpoint (e.g. c2i_B_256.pt) from the LlamaGen '
              'release and set generator.checkpoint in the config.')


def rope_2d(grid: int, head_dim: int, n_cond: int, base: float = 10000.0) -> Tensor:
    """[n_cond + grid**2, head_dim // 2, 2] (cos, sin); rows, then columns; zeros for conditions."""
    quarter = head_dim // 4
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim // 2, 2)[:quarter].float() / (head_dim // 2))
    angles = torch.outer(torch.arange(grid).float(), inv_freq)  # [grid, quarter]
    angles = torch.cat([angles[:, None].expand(-1, grid, -1),
                        angles[None, :].expand(grid, -1, -1)], -1).flatten(0, 1)
    table = torch.stack([angles.cos(), angles.sin()], -1)
    return torch.cat([torch.zeros(n_cond, head_dim // 2, 2), table])


def apply_rope(x: Tensor, rope: Tensor) -> Tensor:
    """x [B, S, H, D], rope [S, D // 2, 2] -> x rotated pairwise, in x's dtype."""
    xf = x.float().unflatten(-1, (-1, 2))
    cos, sin = rope[None, :, None, :, 0], rope[None, :, None, :, 1]
    out = torch.stack([xf[..., 0] * cos - xf[..., 1] * sin,
                       xf[..., 1] * cos + xf[..., 0] * sin], -1)
    return out.flatten(-2).type_as(x)


class RMSNorm(nn.Module):

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class FeedForward(nn.Module):
    """SwiGLU with LlamaGen's hidden size: 2/3 * 4 * dim, rounded up to ``multiple_of``."""

    def __init__(self, dim: int, multiple_of: int, ffn_dim_multiplier: Optional[float], dropout: float):
        super().__init__()
        hidden = int(2 * 4 * dim / 3)
        if ffn_dim_multiplier is not None:
            hidden = int(ffn_dim_multiplier * hidden)
        hidden = -(-hidden // multiple_of) * multiple_of
        self.w1, self.w3 = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.ffn_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.ffn_dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Attention(nn.Module):

    def __init__(self, dim: int, n_head: int, n_kv_head: int, attn_dropout: float, resid_dropout: float):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = n_head, n_kv_head, dim // n_head
        self.wqkv = nn.Linear(dim, (n_head + 2 * n_kv_head) * self.head_dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.attn_dropout, self.resid_dropout = attn_dropout, nn.Dropout(resid_dropout)

    def forward(self, x: Tensor, rope: Tensor, mask: Optional[Tensor] = None,
                cache: Optional[KVCache] = None, pos: Union[int, Tensor] = 0) -> Tensor:
        """Causal attention over ``x`` [B, S, dim]; with ``cache``, ``x`` continues at ``pos``: an
        int reads the cache up to there, a LongTensor [1] (static decoding) all of it under ``mask``."""
        B, S, _ = x.shape
        kv = self.n_kv_head * self.head_dim
        q, k, v = self.wqkv(x).split([self.n_head * self.head_dim, kv, kv], -1)
        q = apply_rope(q.view(B, S, self.n_head, self.head_dim), rope).transpose(1, 2)
        k = apply_rope(k.view(B, S, self.n_kv_head, self.head_dim), rope).transpose(1, 2)
        v = v.view(B, S, self.n_kv_head, self.head_dim).transpose(1, 2)
        if cache is not None:
            k, v = cache.update(pos, k, v) if isinstance(pos, int) else cache.update_at(pos, k, v)
        if self.n_kv_head != self.n_head:
            k = k.repeat_interleave(self.n_head // self.n_kv_head, 1)
            v = v.repeat_interleave(self.n_head // self.n_kv_head, 1)
        if S == 1 and not self.training:  # one query: two thin matmuls beat the fused kernel on CPU
            scores = (q * self.head_dim ** -0.5) @ k.transpose(-1, -2)
            if mask is not None:
                scores = scores.masked_fill(~mask, float('-inf'))
            out = scores.softmax(-1) @ v
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=mask is None and S > 1,
                dropout_p=self.attn_dropout if self.training else 0.0)
        return self.resid_dropout(self.wo(out.transpose(1, 2).reshape(B, S, -1)))


class TransformerBlock(nn.Module):

    def __init__(self, dim: int, n_head: int, n_kv_head: int, multiple_of: int,
                 ffn_dim_multiplier: Optional[float], norm_eps: float, dropouts: Tuple[float, float, float]):
        super().__init__()
        attn_p, resid_p, ffn_p = dropouts
        self.attention = Attention(dim, n_head, n_kv_head, attn_p, resid_p)
        self.feed_forward = FeedForward(dim, multiple_of, ffn_dim_multiplier, ffn_p)
        self.attention_norm, self.ffn_norm = RMSNorm(dim, norm_eps), RMSNorm(dim, norm_eps)

    def forward(self, x: Tensor, rope: Tensor, mask: Optional[Tensor] = None,
                cache: Optional[KVCache] = None, pos: Union[int, Tensor] = 0) -> Tensor:
        h = x + self.attention(self.attention_norm(x), rope, mask, cache, pos)
        return h + self.feed_forward(self.ffn_norm(h))


class LabelEmbedder(nn.Module):
    """Class ids -> [B, 1, dim]; index ``num_classes`` is the null class used for CFG."""

    def __init__(self, num_classes: int, dim: int, with_null: bool):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + int(with_null), dim)

    def forward(self, labels: Tensor) -> Tensor:
        return self.embedding_table(labels)[:, None]


class MLP(nn.Module):

    def __init__(self, cin: int, hidden: int, cout: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(cin, hidden, bias=False), nn.Linear(hidden, cout, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class CaptionEmbedder(nn.Module):
    """Caption features [B, T, C] -> [B, T, dim]; ``uncond_embedding`` is the null caption."""

    def __init__(self, caption_dim: int, dim: int, token_num: int):
        super().__init__()
        self.cap_proj = MLP(caption_dim, dim, dim)
        # a buffer in LlamaGen's checkpoints, and trained by the paper: keep the name, train it
        self.uncond_embedding = nn.Parameter(torch.randn(token_num, caption_dim) / caption_dim ** 0.5)

    def forward(self, captions: Tensor) -> Tensor:
        return self.cap_proj(captions)


@GENERATORS.register_module()
class LlamaGenGPT(ARImageGenerator):
    """LlamaGen's class- or text-conditional GPT over ``block_size`` VQ tokens.

    Args:
        arch: one of ``ARCHS`` (GPT-B ... GPT-7B); ``n_layer``/``n_head``/``dim`` override it.
        model_type: 'c2i' (class ids) or 't2i' (caption features, ``cls_token_num`` = 120).
        block_size: image tokens, a square number (256 for 256 px with VQ-16).
        class_dropout_prob: LlamaGen's condition-dropout rate: supervised training (``ARSFTModel``)
            replaces labels / captions by the null one at this rate; > 0 adds the null class.
        activation_checkpointing: keep only each block's input in teacher-forced passes with
            gradient and recompute the block in backward (memory for one more forward).
        checkpoint: LlamaGen GPT file, loaded strictly (``freqs_cis`` in it is ignored).
    """

    static_decode = True

    def __init__(self, arch: str = 'GPT-B', n_layer: Optional[int] = None, n_head: Optional[int] = None,
                 dim: Optional[int] = None, n_kv_head: Optional[int] = None, multiple_of: int = 256,
                 ffn_dim_multiplier: Optional[float] = None, rope_base: float = 10000.0,
                 norm_eps: float = 1e-5, vocab_size: int = 16384, block_size: int = 256,
                 model_type: str = 'c2i', num_classes: int = 1000, caption_dim: int = 2048,
                 cls_token_num: Optional[int] = None, class_dropout_prob: float = 0.1,
                 token_dropout: float = 0.0, attn_dropout: float = 0.0, resid_dropout: float = 0.0,
                 ffn_dropout: float = 0.0, initializer_range: float = 0.02,
                 activation_checkpointing: bool = False,
                 checkpoint: Optional[str] = None, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if arch not in ARCHS and None in (n_layer, n_head, dim):
            raise ValueError(f'Unknown GPT arch {arch!r}; choose from {sorted(ARCHS)} or give '
                             'n_layer, n_head and dim')
        n_layer, n_head, dim = (given if given is not None else preset for given, preset in
                                zip((n_layer, n_head, dim), ARCHS.get(arch, (None,) * 3)))
        if model_type not in ('c2i', 't2i'):
            raise ValueError(f"model_type must be 'c2i' or 't2i', got {model_type!r}")
        grid = int(round(block_size ** 0.5))
        if grid * grid != block_size:
            raise ValueError(f'block_size must be a square number, got {block_size}')
        self.model_type, self.num_classes, self.vocab_size = model_type, num_classes, vocab_size
        self.block_size, self.grid = block_size, grid
        self.cls_token_num = cls_token_num or (1 if model_type == 'c2i' else 120)
        self.class_dropout_prob = class_dropout_prob
        self.initializer_range, self.activation_checkpointing = initializer_range, activation_checkpointing

        if model_type == 'c2i':
            self.cls_embedding = LabelEmbedder(num_classes, dim, class_dropout_prob > 0)
        else:
            self.cls_embedding = CaptionEmbedder(caption_dim, dim, self.cls_token_num)
        self.tok_embeddings = nn.Embedding(vocab_size, dim)
        self.tok_dropout = nn.Dropout(token_dropout)
        self.layers = nn.ModuleList(
            TransformerBlock(dim, n_head, n_kv_head or n_head, multiple_of, ffn_dim_multiplier,
                             norm_eps, (attn_dropout, resid_dropout, ffn_dropout))
            for _ in range(n_layer))
        self.norm = RMSNorm(dim, norm_eps)
        self.output = nn.Linear(dim, vocab_size, bias=False)
        self.register_buffer('freqs_cis', rope_2d(grid, dim // n_head, self.cls_token_num, rope_base),
                             persistent=False)
        self.reset_parameters()
        if checkpoint is not None:
            load_weights(self, checkpoint, 'GPT checkpoint', HOW_TO_GET,
                         ignore_keys=('freqs_cis',), strip_prefixes=('_orig_mod.',))

    def reset_parameters(self) -> None:
        """LlamaGen's initialisation: N(0, 0.02) linears and embeddings, zero output layer."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=self.initializer_range)
        nn.init.zeros_(self.output.weight)

    # ---- conditions -------------------------------------------------------------------------
    def check_condition(self, cond: Tensor) -> None:
        if self.model_type == 'c2i':
            if cond.dtype not in (torch.int32, torch.int64) or cond.dim() != 1:
                raise ValueError(f'c2i conditions are class ids [B], got {cond.dtype} {tuple(cond.shape)}')
            if len(cond) and (cond.min() < 0 or cond.max() >= self.num_classes):
                raise ValueError(f'class ids must lie in [0, {self.num_classes}), got '
                                 f'[{int(cond.min())}, {int(cond.max())}]')
        elif cond.dim() != 3 or cond.shape[1:] != self.cls_embedding.uncond_embedding.shape:
            raise ValueError('t2i conditions are caption features [B, '
                             f'{", ".join(map(str, self.cls_embedding.uncond_embedding.shape))}], '
                             f'got {tuple(cond.shape)}')

    def null_condition(self, cond: Tensor) -> Tensor:
        if self.model_type == 'c2i':
            if self.cls_embedding.embedding_table.num_embeddings == self.num_classes:
                raise ValueError('CFG needs a null class: build the model with class_dropout_prob > 0')
            return torch.full_like(cond, self.num_classes)
        return self.cls_embedding.uncond_embedding.to(cond.dtype).expand_as(cond)

    # ---- forward passes ---------------------------------------------------------------------
    def _rope_and_mask(self, pos: Union[int, Tensor], q_len: int, cond_mask: Optional[Tensor],
                       caches: Optional[Sequence[KVCache]]) -> Tuple[Tensor, Optional[Tensor]]:
        """Rotary rows and attention mask [B or 1, 1, q_len, keys] of ``q_len`` queries from ``pos``.
        An int ``pos`` attends to keys 0..pos+q_len-1 (no mask where causal attention does); a
        LongTensor ``pos`` [1] (static decoding) to the whole cache, under a mask of the positions
        up to ``pos``, so that no shape depends on it. Padded caption tokens are hidden (each still
        sees itself), as LlamaGen."""
        if isinstance(pos, int) and cond_mask is None:
            return self.freqs_cis[pos:pos + q_len], None
        device = self.freqs_cis.device
        k_len = pos + q_len if isinstance(pos, int) else caches[0].max_len
        keys = torch.ones(1 if cond_mask is None else len(cond_mask), k_len, dtype=torch.bool, device=device)
        if cond_mask is not None:
            keys[:, :cond_mask.shape[1]] = cond_mask[:, :k_len].bool()
        qpos = pos + torch.arange(q_len, device=device)
        kpos = torch.arange(k_len, device=device)
        causal = kpos[None] <= qpos[:, None]
        return self.freqs_cis[qpos], (causal & (keys[:, None] | (kpos[None] == qpos[:, None])))[:, None]

    def _run(self, h: Tensor, pos: Union[int, Tensor], cond_mask: Optional[Tensor],
             caches: Optional[Sequence[KVCache]] = None) -> Tensor:
        """The blocks and the final norm over ``h`` [B, S, dim] at positions ``pos``...; each block
        recomputed in backward with ``activation_checkpointing`` (teacher-forced passes)."""
        S = h.shape[1]
        rope, mask = self._rope_and_mask(pos, S, cond_mask, caches)
        recompute = self.activation_checkpointing and caches is None and torch.is_grad_enabled()
        for i, layer in enumerate(self.layers):
            if recompute:
                h = recompute_in_backward(layer, h, rope, mask, use_reentrant=False)
            else:
                h = layer(h, rope, mask, caches[i] if caches is not None else None, pos)
        return self.norm(h)

    def head(self, hidden: Tensor) -> Tensor:
        return self.output(hidden).float()

    def features(self, tokens: Tensor, cond: Tensor, cond_mask: Optional[Tensor] = None) -> Tensor:
        """Teacher-forced hidden states [B, L, dim]: position t predicts ``tokens[:, t]`` from the
        condition and ``tokens[:, :t]``."""
        h = torch.cat([self.cls_embedding(cond)[:, :self.cls_token_num],
                       self.tok_embeddings(tokens[:, :-1])], 1)
        return self._run(self.tok_dropout(h), 0, cond_mask)[:, self.cls_token_num - 1:]

    def new_caches(self, batch: int, max_len: int) -> Sequence[KVCache]:
        """One static KV cache per layer on the device of the weights, in their dtype or, under
        autocast, in the autocast dtype (keys and values are computed in it)."""
        att, weight = self.layers[0].attention, self.tok_embeddings.weight
        dtype = (torch.get_autocast_dtype(weight.device.type) if torch.is_autocast_enabled(weight.device.type)
                 else weight.dtype)
        return [KVCache(batch, att.n_kv_head, max_len, att.head_dim, dtype, weight.device)
                for _ in self.layers]

    def prefill(self, cond: Tensor, cond_mask: Optional[Tensor], caches: Sequence[KVCache]) -> Tensor:
        """Run the condition positions into ``caches``; logits [B, V] of the first image token."""
        h = self.tok_dropout(self.cls_embedding(cond)[:, :self.cls_token_num])
        return self.head(self._run(h, 0, cond_mask, caches)[:, -1])

    def decode_step(self, tokens: Tensor, pos: Union[int, Tensor], cond_mask: Optional[Tensor],
                    caches: Sequence[KVCache]) -> Tensor:
        """Feed ``tokens`` [B] at sequence position ``pos``; logits [B, V] of the next token. A
        LongTensor ``pos`` [1] makes it ``decode_step_static``."""
        h = self._run(self.tok_dropout(self.tok_embeddings(tokens[:, None])), pos, cond_mask, caches)
        return self.head(h[:, -1])

    def decode_step_static(self, tokens: Tensor, pos: Tensor, cond_mask: Optional[Tensor],
                           caches: Sequence[KVCache]) -> Tensor:
        """``decode_step`` at the position in ``pos`` [1], attending to the whole cache under a
        mask: every shape is the same at every position."""
        return self.decode_step(tokens, pos, cond_mask, caches)
