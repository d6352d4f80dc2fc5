from .distribution_metrics import DistributionMetrics
from .diversity_metric import DiversityMetric
from .reward_metric import RewardMetric
from .sample_export import SampleExport

__all__ = ['DistributionMetrics', 'DiversityMetric', 'RewardMetric', 'SampleExport']
