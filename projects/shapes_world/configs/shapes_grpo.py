# Stage 4: AR-GRPO on the supervised class-conditional GPT. Reward: the reward classifier's
# probability of the prompted class plus the world CLIP's cosine (the real CLIPScore path).
# Evaluation (tools/test.py, before and after): the rewards, the accuracy of a held-out
# classifier that is not a reward, sample diversity and FID in the held-out classifier's features
# against real images of the world.
_base_ = ['./_base_/shapes_grpo.py', './_base_/models/shapes_gpt_c2i.py']
# the world's 12 classes in class-id order (shapes_world.class_names(); a test checks it)
classes = ['red circle', 'red square', 'red triangle', 'green circle', 'green square', 'green triangle',
           'blue circle', 'blue square', 'blue triangle', 'yellow circle', 'yellow square', 'yellow triangle']
model = dict(
    type='ARGRPOModel',
    generator=dict(checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/gpt/gpt.pt'),
    sampler=dict(type='TokenSampler'),  # temperature 1, no top-k / top-p, no CFG
    algorithm=dict(type='GRPO', group_size=8, beta=0.01),  # k3 KL, clip 0.2, token-level loss
    reward=dict(type='WeightedSum', rewards=[
        dict(type='ClassifierReward', name='classifier', model_name='test_resnet',
             model_options=dict(num_classes=12), image_size=64, class_names=classes, template='a {}',
             checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/classifier/classifier.pth'),
        dict(type='CLIPScore', name='clip', arch='ShapesCLIP-Tiny',
             checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/clip/clip.pth'),
    ]))
train_dataloader = dict(
    dataset=dict(type='ClassPromptDataset', num_classes=12, class_names=classes, template='a {}'))

test_dataloader = dict(dataset=dict(train_dataloader['dataset'], repeat=20))  # 20 samples per class
test_evaluator = [
    dict(type='RewardMetric', reward=model['reward']),
    dict(type='RewardMetric', prefix='heldout', reward=dict(
        type='ClassifierReward', name='accuracy', output='correct', model_name='test_vit',
        model_options=dict(num_classes=12, img_size=32, patch_size=4), image_size=32,
        class_names=classes, template='a {}',
        checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/heldout/heldout.pth')),
    dict(type='DistributionMetrics', metrics=['fid', 'diversity'],
         reference='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/real.npz',
         cache_dir='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}',
         feature_extractor=dict(type='TimmFeatures', model_name='test_vit', image_size=32,
                                model_options=dict(num_classes=12, img_size=32, patch_size=4),
                                checkpoint=(
                                    '{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/heldout/heldout.pth'))),
]
# the test set evaluated every 25 GRPO iterations too (tools/demo.py plots it over the run)
val_dataloader, val_evaluator = dict(dataset=test_dataloader['dataset']), test_evaluator
train_cfg = dict(val_interval=25)
del classes  # a helper, not a setting of the run
