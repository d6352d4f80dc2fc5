"""The shapes world, a project on argrpo: importing it registers its types in argrpo's
registries (the world dataset, its attribute judge, the trainers of its judges and CLIP) and its
open_clip architecture, ShapesCLIP-Tiny. Configs load it with ``custom_imports``."""
import os.path as osp

from .captions import describe, parse
from .classifier_trainer import ImageClassifierTrainer
from .clip_trainer import CLIPTrainer
from .dataset import ShapesDataset
from .scene import class_names
from .scene_attributes import SceneAttributeReward

OPEN_CLIP_CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'model_configs')


def register_open_clip_configs() -> None:
    """Make the architectures of ``model_configs/`` known to open_clip (once)."""
    import open_clip
    if 'ShapesCLIP-Tiny' not in open_clip.list_models():
        open_clip.add_model_config(OPEN_CLIP_CONFIGS)


register_open_clip_configs()

__all__ = ['CLIPTrainer', 'ImageClassifierTrainer', 'SceneAttributeReward', 'ShapesDataset', 'class_names',
           'describe', 'parse', 'register_open_clip_configs']
