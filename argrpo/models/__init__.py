from .argrpo_model import ARGRPOModel, NonFiniteError
from .sft_model import ARSFTModel
from .vq_trainer import VQTokenizerTrainer
from .wrappers import GRPODistributedDataParallel

__all__ = ['ARGRPOModel', 'NonFiniteError', 'ARSFTModel', 'VQTokenizerTrainer', 'GRPODistributedDataParallel']
