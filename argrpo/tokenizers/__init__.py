from .vq_model import LlamaGenVQ

__all__ = ['LlamaGenVQ']
