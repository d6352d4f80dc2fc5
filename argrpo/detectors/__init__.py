from .base import BaseDetector, Detections, check_classes
from .mask2former import Mask2FormerDetector

__all__ = ['BaseDetector', 'Detections', 'Mask2FormerDetector', 'check_classes']
