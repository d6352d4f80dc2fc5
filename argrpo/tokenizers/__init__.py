from .clip_text_encoder import CLIPTextEncoder
from .t5_encoder import T5TextEncoder, left_pad
from .vq_model import LlamaGenVQ

__all__ = ['CLIPTextEncoder', 'LlamaGenVQ', 'T5TextEncoder', 'left_pad']
