from .distribution_metrics import DistributionMetrics
from .geneval_metric import GenEvalMetric
from .reward_metric import RewardMetric
from .sample_export import SampleExport

__all__ = ['DistributionMetrics', 'GenEvalMetric', 'RewardMetric', 'SampleExport']
