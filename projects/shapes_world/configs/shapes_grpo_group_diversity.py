# Stage 4 with a group diversity reward (issue 22): shapes_grpo.py's instance rewards plus
# GroupDiversity, each sample's leave-one-out gain in the mean pairwise distance of its own class's
# group of 8, in the world VQ tokenizer's codebook vectors pooled to a 4 x 4 layout
# (TokenizerFeatures, L2-normalised: the position, size and background of the shape, the traits GRPO
# collapses within a class; never the held-out judge). The batch-level distribution reward pulls
# against the instance rewards over the whole batch; this one acts within each prompt's group.
# Weight: on the zoo's SFT model the logged diversity_distance_std is about 0.027 (the first
# iterations), so 6.0 puts it near 0.16, beside the instance rewards' 0.2-0.37 (check it in the
# log as the run goes; `statistics=dict(logdet=1.0)` or `dict(cluster=1.0)` switches to the kernel
# log-determinant or DiverseGRPO's cluster-size bonus, at scales of their own).
_base_ = ['./shapes_grpo.py']
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo.py
    dict(type='GroupDiversity', name='diversity', weight=6.0, statistics=dict(distance=1.0),
         feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
]))
