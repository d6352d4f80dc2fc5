from .aesthetic import LAIONAesthetic
from .base import BaseReward
from .classifier import ClassifierReward, timm_classifier
from .clip_score import CLIPRealism, CLIPScore, HPSv2
from .color import GradientReward
from .conditional_distribution import ConditionalLeaveOneOutFID
from .distribution import LeaveOneOutFID
from .geneval import GenEvalReward
from .group_diversity import GroupDiversity
from .image_reward import ImageReward
from .iqa import IQAReward
from .pickscore import PickScore
from .remote import RemoteReward
from .soft_tifa import SoftTIFA
from .vlm_backends import OpenAIVLM, TransformersVLM
from .vlm_judge import VLMJudge
from .weighted_sum import WeightedSum

__all__ = ['BaseReward', 'CLIPScore', 'HPSv2', 'CLIPRealism', 'IQAReward', 'ClassifierReward', 'WeightedSum',
           'GradientReward', 'LeaveOneOutFID', 'RemoteReward', 'VLMJudge', 'TransformersVLM', 'OpenAIVLM',
           'timm_classifier', 'GroupDiversity', 'ConditionalLeaveOneOutFID', 'GenEvalReward', 'SoftTIFA',
           'PickScore', 'LAIONAesthetic', 'ImageReward']
