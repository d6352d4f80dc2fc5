from .base import ARImageGenerator, Rollout
from .gpt import ARCHS, LlamaGenGPT
from .kv_cache import KVCache

__all__ = ['ARImageGenerator', 'Rollout', 'LlamaGenGPT', 'ARCHS', 'KVCache']
