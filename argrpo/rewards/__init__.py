from .base import BaseReward, prepare_images
from .clip_score import CLIPRealism, CLIPScore, HPSv2
from .color import GradientReward
from .iqa import IQAReward
from .weighted_sum import WeightedSum

__all__ = ['BaseReward', 'prepare_images', 'CLIPScore', 'HPSv2', 'CLIPRealism', 'IQAReward',
           'WeightedSum', 'GradientReward']
