from .token_sampler import TokenSampler

__all__ = ['TokenSampler']
