from .geneval import GENEVAL_TASKS, GenEvalPromptDataset, metadata_by_prompt, read_geneval_metadata
from .prompts import ClassPromptDataset, PromptFileDataset, imagenet_class_names, resolve_class_names

__all__ = ['GENEVAL_TASKS', 'GenEvalPromptDataset', 'metadata_by_prompt', 'read_geneval_metadata',
           'ClassPromptDataset', 'PromptFileDataset', 'imagenet_class_names', 'resolve_class_names']
