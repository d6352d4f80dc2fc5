# Text-to-image stage 4: AR-GRPO on the supervised text-conditional GPT over a pool of 32
# captions (as GenEval-style RL trains on a prompt set), 8 captions x 8 samples per iteration.
# Reward: twice the attribute classifier's mean probability of the four attributes the caption
# names, plus the world CLIP's cosine. Evaluation on the pool's captions (tools/demo.py also
# evaluates 32 captions never trained on): a GenEval-like check by the held-out attribute judge
# (per attribute, and all four right), diversity and FID in its features against real scenes.
_base_ = ['./_base_/shapes_grpo.py', './_base_/models/shapes_gpt_t2i.py']
model = dict(
    type='ARGRPOModel',
    generator=dict(checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/gpt_t2i/gpt.pt'),
    sampler=dict(type='TokenSampler'),  # temperature 1, no top-k / top-p, no CFG
    algorithm=dict(type='GRPO', group_size=8, beta=0.01),  # k3 KL, clip 0.2, token-level loss
    reward=dict(type='WeightedSum', rewards=[
        dict(type='SceneAttributeReward', name='attributes', model_name='test_resnet', image_size=64, weight=2.0,
             model_options=dict(num_classes=14),
             checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/attributes/attributes.pth'),
        dict(type='CLIPScore', name='clip', arch='ShapesCLIP-Tiny',
             checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/clip/clip.pth'),
    ]))
train_dataloader = dict(batch_size=8, dataset=dict(type='ShapesDataset', mode='caption', seed=3, length=32))
train_cfg = dict(max_iters=200, val_interval=50)
default_hooks = dict(checkpoint=dict(interval=200))

test_dataloader = dict(dataset=dict(train_dataloader['dataset'], repeat=8))  # the 32 captions x 8 samples
test_evaluator = [
    dict(type='RewardMetric', reward=model['reward']),
    dict(type='RewardMetric', prefix='heldout', reward=dict(
        type='SceneAttributeReward', name='geneval', output='correct', model_name='test_vit',
        model_options=dict(num_classes=14, img_size=32, patch_size=4), image_size=32,
        checkpoint=('{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/'
                    'heldout_attributes/heldout_attributes.pth'))),
    dict(type='DistributionMetrics', metrics=['fid', 'diversity'],
         reference='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/real_t2i.npz',
         cache_dir='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}',
         feature_extractor=dict(type='TimmFeatures', model_name='test_vit', image_size=32,
                                model_options=dict(num_classes=14, img_size=32, patch_size=4),
                                checkpoint=('{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/'
                                            'heldout_attributes/heldout_attributes.pth'))),
]
# the test set evaluated every 50 GRPO iterations too (tools/demo.py plots it over the run)
val_dataloader, val_evaluator = dict(dataset=test_dataloader['dataset']), test_evaluator
