from .feature_extractors import FeatureExtractor, FIDInception, OpenCLIPFeatures, TimmFeatures
from .functional import (feature_statistics, frechet_distance, group_diversity, inception_score,
                         precision_recall)
from .geneval import CLIPColourClassifier, GenEvalJudge, GenEvalRules, Verdict, judge
from .metrics import DistributionMetrics, GenEvalMetric, RewardMetric, SampleExport
from .reference import Reference, load_reference

__all__ = ['FeatureExtractor', 'FIDInception', 'OpenCLIPFeatures', 'TimmFeatures', 'feature_statistics',
           'frechet_distance', 'group_diversity', 'inception_score', 'precision_recall', 'DistributionMetrics',
           'RewardMetric', 'SampleExport', 'Reference', 'load_reference', 'CLIPColourClassifier', 'GenEvalJudge',
           'GenEvalRules', 'Verdict', 'judge', 'GenEvalMetric']
