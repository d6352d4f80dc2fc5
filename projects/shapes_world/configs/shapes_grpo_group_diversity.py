# Stage 4 with a group diversity reward (issue 22): shapes_grpo.py's instance rewards plus
# GroupDiversity, each sample's leave-one-out gain in the mean pairwise distance of its own class's
# group of 8, in the world VQ tokenizer's codebook vectors pooled to a 4 x 4 layout
# (TokenizerFeatures, L2-normalised: the position, size and background of the shape, the traits GRPO
# collapses within a class; never the held-out judge). The batch-level distribution reward pulls
# against the instance rewards over the whole batch; this one acts within each prompt's group.
# Weight: a gain is about a quarter of an outlier's distance (0.2-0.6 in these features) for the
# outlier and -1/28 of it for the others; 3.0 puts the logged diversity_distance_std near the
# instance rewards' 0.1-0.3 (check it in the log; `statistics=dict(logdet=1.0)` or
# `dict(cluster=1.0)` switches to the kernel log-determinant or DiverseGRPO's cluster-size bonus).
_base_ = ['./shapes_grpo.py']
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo.py
    dict(type='GroupDiversity', name='diversity', weight=3.0, statistics=dict(distance=1.0),
         feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
]))
