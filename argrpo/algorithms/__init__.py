from .grpo import GRPO

__all__ = ['GRPO']
