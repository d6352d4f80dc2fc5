from .base import BaseDetector, Detections, check_classes

__all__ = ['BaseDetector', 'Detections', 'check_classes']
