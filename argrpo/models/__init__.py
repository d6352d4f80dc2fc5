from .argrpo_model import ARGRPOModel, NonFiniteError
from .classifier_trainer import ImageClassifierTrainer
from .clip_trainer import CLIPTrainer
from .generation_model import ARGenerationModel
from .sft_model import ARSFTModel
from .vq_trainer import VQTokenizerTrainer
from .wrappers import GRPODistributedDataParallel

__all__ = ['ARGenerationModel', 'ARGRPOModel', 'NonFiniteError', 'ImageClassifierTrainer', 'CLIPTrainer',
           'ARSFTModel', 'VQTokenizerTrainer', 'GRPODistributedDataParallel']
