from .prompts import ClassPromptDataset, PromptFileDataset, imagenet_class_names, resolve_class_names
from .shapes_world import ShapesDataset

__all__ = ['ClassPromptDataset', 'PromptFileDataset', 'imagenet_class_names', 'resolve_class_names',
           'ShapesDataset']
