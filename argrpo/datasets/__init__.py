from .prompts import ClassPromptDataset, PromptFileDataset, imagenet_class_names, resolve_class_names

__all__ = ['ClassPromptDataset', 'PromptFileDataset', 'imagenet_class_names', 'resolve_class_names']
