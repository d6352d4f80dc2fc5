from .t5_encoder import T5TextEncoder, left_pad
from .vq_model import LlamaGenVQ

__all__ = ['LlamaGenVQ', 'T5TextEncoder', 'left_pad']
