from .argrpo_model import ARGRPOModel, NonFiniteError
from .wrappers import GRPODistributedDataParallel

__all__ = ['ARGRPOModel', 'NonFiniteError', 'GRPODistributedDataParallel']
