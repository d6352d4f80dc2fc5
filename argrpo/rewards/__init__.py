from .base import BaseReward
from .classifier import ClassifierReward, timm_classifier
from .clip_score import CLIPRealism, CLIPScore, HPSv2
from .color import GradientReward
from .conditional_distribution import ConditionalLeaveOneOutFID
from .distribution import LeaveOneOutFID
from .group_diversity import GroupDiversity
from .iqa import IQAReward
from .remote import RemoteReward
from .vlm_backends import OpenAIVLM, TransformersVLM
from .vlm_judge import VLMJudge
from .weighted_sum import WeightedSum

__all__ = ['BaseReward', 'CLIPScore', 'HPSv2', 'CLIPRealism', 'IQAReward', 'ClassifierReward', 'WeightedSum',
           'GradientReward', 'LeaveOneOutFID', 'RemoteReward', 'VLMJudge', 'TransformersVLM', 'OpenAIVLM',
           'timm_classifier', 'GroupDiversity', 'ConditionalLeaveOneOutFID']
