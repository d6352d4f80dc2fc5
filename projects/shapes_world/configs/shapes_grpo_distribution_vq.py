# shapes_grpo_distribution.py with the distribution reward measured in the world VQ tokenizer's
# codebook vectors pooled to a 4 x 4 layout (TokenizerFeatures, 128-d): they keep the position and
# size of the shape and the background, the image-level traits GRPO collapses, which a
# classifier's embedding is trained to ignore. Distances there are smaller, hence the larger
# scale; at 1000 the logged fid_std (1-3) rules the sum over the instance rewards' 0.1-0.3, at 200
# it is 0.3-0.4; neither holds FID in the held-out features (README, "Against the collapse").
_base_ = ['./shapes_grpo_distribution.py']
instance, distribution = _base_.model.reward.rewards
model = dict(reward=dict(rewards=[instance, dict(
    distribution, scale=1000.0,
    feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4))]))
del instance, distribution  # helpers, not settings of the run
