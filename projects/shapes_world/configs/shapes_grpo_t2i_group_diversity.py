# Text-to-image stage 4 with a group diversity reward (issue 22): shapes_grpo_t2i.py's instance
# rewards plus GroupDiversity, each sample's leave-one-out gain in the mean pairwise distance of its
# own caption's group of 8, in the world VQ tokenizer's codebook vectors pooled to a 4 x 4 layout
# (TokenizerFeatures, L2-normalised: where the shapes are and the background, which the caption
# leaves free; never the held-out judge). Weight as in shapes_grpo_group_diversity.py (measured on
# the class-to-image SFT model): check the logged diversity_distance_std against the instance
# rewards' 0.1-0.6.
_base_ = ['./shapes_grpo_t2i.py']
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo_t2i.py
    dict(type='GroupDiversity', name='diversity', weight=6.0, statistics=dict(distance=1.0),
         feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
]))
