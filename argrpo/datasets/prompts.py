"""Prompt datasets for GRPO: what each rollout group is conditioned on.

Each item is ``dict(cond=..., prompt=str, index=int)``: ``cond`` feeds the generator (a class id,
or the caption that the text encoder turns into features), ``prompt`` feeds the text-aware
rewards, ``index`` seeds the item's sample in evaluation. ``repeat`` gives each condition several
items (50 images per ImageNet class, 4 per GenEval prompt).
"""
from typing import List, Optional, Sequence, Union

from torch.utils.data import Dataset

from argrpo.registry import DATASETS
from argrpo.utils import read_prompts


def imagenet_class_names() -> List[str]:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES  # shipped with open_clip
    return list(IMAGENET_CLASSNAMES)


def resolve_class_names(class_names: Union[str, Sequence[str]]) -> List[str]:
    """'imagenet' (the 1000 ImageNet names) or an explicit list of names."""
    if class_names == 'imagenet':
        return imagenet_class_names()
    if isinstance(class_names, str):
        raise ValueError(f"class_names is 'imagenet' or a list of names, got {class_names!r}")
    return list(class_names)


@DATASETS.register_module()
class ClassPromptDataset(Dataset):
    """Class ids (all ``num_classes``, or the listed ``classes``) with a prompt made from the
    class name: ``template.format(name)``. ``class_names='imagenet'`` uses the 1000 ImageNet
    names; a list gives your own."""

    def __init__(self, num_classes: int = 1000, classes: Optional[Sequence[int]] = None,
                 class_names: Union[str, Sequence[str]] = 'imagenet',
                 template: str = 'a photo of a {}.', repeat: int = 1):
        names = resolve_class_names(class_names)
        if len(names) != num_classes:
            raise ValueError(f'{len(names)} class names for {num_classes} classes')
        self.classes = list(range(num_classes)) if classes is None else list(classes)
        bad = [c for c in self.classes if not 0 <= c < num_classes]
        if bad:
            raise ValueError(f'class ids out of [0, {num_classes}): {bad[:5]}')
        self.names, self.template, self.repeat = names, template, repeat

    def __len__(self) -> int:
        return len(self.classes) * self.repeat

    @property
    def metainfo(self) -> dict:
        """MMEngine's ``dataset_meta`` of evaluators and visualizers."""
        return dict(classes=tuple(self.names))

    def __getitem__(self, index: int) -> dict:
        cls = self.classes[index % len(self.classes)]
        return dict(cond=cls, prompt=self.template.format(self.names[cls]), index=index)


@DATASETS.register_module()
class PromptFileDataset(Dataset):
    """Captions from a text file, one per line (e.g. COCO captions, DrawBench)."""

    def __init__(self, path: str, repeat: int = 1):
        self.prompts, self.repeat = read_prompts(path), repeat

    def __len__(self) -> int:
        return len(self.prompts) * self.repeat

    @property
    def metainfo(self) -> dict:
        """MMEngine's ``dataset_meta`` of evaluators and visualizers."""
        return dict(prompts=tuple(self.prompts))

    def __getitem__(self, index: int) -> dict:
        prompt = self.prompts[index % len(self.prompts)]
        return dict(cond=prompt, prompt=prompt, index=index)
