# Demo (text-to-image) stage 4: AR-GRPO on the text-conditional shapes GPT. Reward: the attribute
# classifier's mean probability of the four attributes the caption names, plus the demo CLIP's
# cosine. Evaluation: a GenEval-like check by the held-out attribute judge (per attribute, and
# all four right), diversity and FID in the judge's features against real two-shape scenes.
_base_ = ['./_base_/shapes_grpo_common.py']
reward = dict(type='WeightedSum', rewards=[
    dict(type='SceneAttributeReward', name='attributes', model_name='test_resnet', image_size=64,
         model_options=dict(num_classes=14),
         checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/attributes/attributes.pth'),
    dict(type='CLIPScore', name='clip', arch='ShapesCLIP-Tiny',
         checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/clip/clip.pth'),
])
model = dict(generator={{_base_.gpt_t2i_sft}}, text_encoder={{_base_.text_encoder}}, reward=reward)
train_dataloader = dict(dataset=dict(type='ShapesDataset', mode='caption', seed=3))

heldout = dict(type='TimmFeatures', model_name='test_vit', image_size=32,
               model_options=dict(num_classes=14, img_size=32, patch_size=4),
               checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/heldout_attributes/heldout_attributes.pth')
test_dataloader = dict(dataset=dict(type='ShapesDataset', mode='caption', seed=99,
                                    length=60, repeat=4))  # 60 captions x 4 samples
test_evaluator = [
    dict(type='RewardMetric', reward=reward),
    dict(type='RewardMetric', prefix='heldout', reward=dict(
        type='SceneAttributeReward', name='geneval', output='correct', model_name='test_vit',
        model_options=dict(num_classes=14, img_size=32, patch_size=4), image_size=32,
        checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/heldout_attributes/heldout_attributes.pth')),
    dict(type='DiversityMetric', feature_extractor=heldout),
    dict(type='DistributionMetrics', feature_extractor=heldout, metrics=['fid'],
         reference='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/real_t2i.npz'),
]
