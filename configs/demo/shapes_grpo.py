# Demo stage 4: AR-GRPO on the pre-trained shapes GPT. Reward: the reward classifier's
# probability of the prompted class plus the demo CLIP's cosine (the real CLIPScore path).
# Evaluation (tools/test.py, before and after): the rewards, the accuracy of a held-out
# classifier that is not a reward, sample diversity and FID in the held-out classifier's features
# against real images of the world.
_base_ = ['./_base_/shapes_grpo_common.py']
reward = dict(type='WeightedSum', rewards=[
    dict(type='ClassifierReward', name='classifier', model_name='test_resnet',
         model_options=dict(num_classes=12), image_size=64, class_names='shapes', template='a {}',
         checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/classifier/classifier.pth'),
    dict(type='CLIPScore', name='clip', arch='ShapesCLIP-Tiny',
         checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/clip/clip.pth'),
])
model = dict(generator={{_base_.gpt_c2i_sft}}, reward=reward)
train_dataloader = dict(
    dataset=dict(type='ClassPromptDataset', num_classes=12, class_names='shapes', template='a {}'))

heldout = dict(type='TimmFeatures', model_name='test_vit', image_size=32,
               model_options=dict(num_classes=12, img_size=32, patch_size=4),
               checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/heldout/heldout.pth')
test_dataloader = dict(  # 20 samples per class
    dataset=dict(type='ClassPromptDataset', num_classes=12, class_names='shapes', template='a {}', repeat=20))
test_evaluator = [
    dict(type='RewardMetric', reward=reward),
    dict(type='RewardMetric', prefix='heldout', reward=dict(
        type='ClassifierReward', name='accuracy', output='correct', model_name='test_vit',
        model_options=dict(num_classes=12, img_size=32, patch_size=4), image_size=32,
        class_names='shapes', template='a {}',
        checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/heldout/heldout.pth')),
    dict(type='DistributionMetrics', feature_extractor=heldout, metrics=['fid', 'diversity'],
         reference='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/real.npz'),
]
