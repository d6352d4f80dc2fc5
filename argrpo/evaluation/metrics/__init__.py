from .distribution_metrics import DistributionMetrics
from .reward_metric import RewardMetric
from .sample_export import SampleExport

__all__ = ['DistributionMetrics', 'RewardMetric', 'SampleExport']
