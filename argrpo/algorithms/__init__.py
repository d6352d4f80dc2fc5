from .grpo import GRPO
from .token_credit import TokenCredit

__all__ = ['GRPO', 'TokenCredit']
