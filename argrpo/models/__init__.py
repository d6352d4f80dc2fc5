from .argrpo_model import ARGRPOModel, NonFiniteError
from .generation_model import ARGenerationModel
from .sft_model import ARSFTModel
from .vq_trainer import VQTokenizerTrainer
from .wrappers import GRPODistributedDataParallel

__all__ = ['ARGenerationModel', 'ARGRPOModel', 'NonFiniteError',
           'ARSFTModel', 'VQTokenizerTrainer', 'GRPODistributedDataParallel']
