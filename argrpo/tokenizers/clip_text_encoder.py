"""Captions -> per-token features of an open_clip text tower, in LlamaGen's left-padded layout:
a text encoder for a text-to-image GPT (the role FLAN-T5 plays for LlamaGen), e.g. the shapes
demo's."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from argrpo.registry import TOKENIZERS
from argrpo.utils import frozen, load_open_clip
from .t5_encoder import left_pad


@TOKENIZERS.register_module()
class CLIPTextEncoder(nn.Module):
    """``context_length`` token features of width ``text_cfg.width`` (after ``ln_final``, before
    pooling), with the mask of real tokens; weights from a local open_clip file."""

    def __init__(self, arch: str, checkpoint: Optional[str] = None):
        super().__init__()
        import open_clip
        how_to_get = f'Save the open_clip weights of {arch} (its state dict) to a local file.'
        self.model = load_open_clip(arch, checkpoint, 'CLIPTextEncoder', how_to_get, shared=False)
        self.model.visual = None  # only the text tower is used (so a copy of its own)
        frozen(self.model)
        self.tokenizer = open_clip.get_tokenizer(arch)

    @torch.no_grad()
    def forward(self, captions: Sequence[str]) -> Tuple[Tensor, Tensor]:
        m = self.model
        tokens = self.tokenizer(list(captions)).to(m.token_embedding.weight.device)
        x = m.transformer(m.token_embedding(tokens) + m.positional_embedding, attn_mask=m.attn_mask)
        return left_pad(m.ln_final(x).float(), (tokens != 0).long())
