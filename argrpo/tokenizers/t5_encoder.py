"""Captions -> the caption features of LlamaGen's text-to-image GPT: FLAN-T5-XL encoder outputs
(120 tokens x 2048), in LlamaGen's left-padded layout.

LlamaGen trained on left-padded features: the valid tokens at the end, zeros before them, and
the mask flipped accordingly (``emb_masks``). AR-GRPO's reference code right-pads, which is not
the distribution the model learned; argrpo follows LlamaGen (``left_pad``).
Needs ``transformers`` (requirements/optional.txt); weights from a local directory.
"""
import os.path as osp
from typing import Sequence, Tuple

import torch
from torch import Tensor, nn

from argrpo.registry import TOKENIZERS
from argrpo.utils import frozen


def left_pad(features: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
    """Right-padded features [B, T, C] with mask [B, T] -> the valid tokens rolled to the end,
    padding zeroed in front of them, and the flipped mask."""
    T = mask.shape[1]
    source = (torch.arange(T, device=mask.device)[None] + mask.sum(1, keepdim=True)) % T
    rolled = features.gather(1, source[..., None].expand_as(features))
    new_mask = mask.flip(-1)
    return rolled * new_mask[..., None].to(rolled.dtype), new_mask


@TOKENIZERS.register_module()
class T5TextEncoder(nn.Module):
    """Caption features of a local T5 encoder, left-padded as LlamaGen's text-to-image GPT reads them.

    Args:
        path: a local directory with the T5 config, tokenizer and weights (as saved by
            ``save_pretrained``; for LlamaGen: google/flan-t5-xl).
        max_length: caption tokens (LlamaGen: 120), padded and truncated to it.
        dtype: of the encoder ('float32' or 'bfloat16'); features are returned in float32.
    """

    how_to_get = ('Download google/flan-t5-xl (config.json, the tokenizer files and the weights) '
                  'into a local directory and point path= at it.')

    def __init__(self, path: str, max_length: int = 120, dtype: str = 'float32'):
        super().__init__()
        try:
            import transformers
        except ImportError as error:
            raise ImportError('T5TextEncoder needs transformers: pip install -r requirements/optional.txt') from error
        if not path or not osp.isfile(osp.join(path, 'config.json')):
            raise FileNotFoundError(f'T5 text encoder: no config.json in {path!r}. {self.how_to_get}')
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.encoder = transformers.T5EncoderModel.from_pretrained(
            path, local_files_only=True, dtype=getattr(torch, dtype))
        frozen(self.encoder)
        self.max_length = max_length

    @torch.no_grad()
    def forward(self, captions: Sequence[str]) -> Tuple[Tensor, Tensor]:
        """-> features [B, max_length, C] (float32) and mask [B, max_length], left-padded."""
        tokens = self.tokenizer(list(captions), max_length=self.max_length, padding='max_length',
                                truncation=True, return_tensors='pt')
        device = next(self.encoder.parameters()).device
        mask = tokens.attention_mask.to(device)
        features = self.encoder(input_ids=tokens.input_ids.to(device), attention_mask=mask).last_hidden_state
        return left_pad(features.float(), mask)
