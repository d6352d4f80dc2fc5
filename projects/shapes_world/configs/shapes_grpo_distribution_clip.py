# shapes_grpo_distribution.py with the distribution reward measured in another feature space: the
# world CLIP's image embeddings (the CLIPScore reward's model, shared), which see backgrounds and
# sizes that the reward classifier's features are trained to ignore. One sample moves the
# Fréchet distance more there, hence a smaller scale (the logged fid_std: about 0.4-0.8 in both).
_base_ = ['./shapes_grpo_distribution.py']
instance, distribution = _base_.model.reward.rewards
model = dict(reward=dict(rewards=[instance, dict(
    distribution, scale=5.0,
    feature_extractor=dict(type='OpenCLIPFeatures', arch='ShapesCLIP-Tiny',
                           checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/clip/clip.pth'))]))
del instance, distribution  # helpers, not settings of the run
