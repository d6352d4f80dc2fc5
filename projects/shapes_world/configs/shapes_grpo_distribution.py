# Stage 4 against diversity collapse: shapes_grpo.py's instance rewards (classifier + CLIP) plus
# LeaveOneOutFID, which rewards each sample by how much it moves the generated distribution
# toward the world's real images (real.npz of the model zoo), in the pooled features of
# the reward classifier: never the held-out network in which evaluation measures FID. The real
# features are computed on the first iteration and cached in the demo's work dir. AdaptiveEntropyHook
# holds the mean per-token entropy at its first iteration's value with GRPO's entropy bonus.
_base_ = ['./shapes_grpo.py']
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo.py
    dict(type='LeaveOneOutFID', name='fid',
         reference='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/real.npz',
         cache_dir='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}',
         ema=0.9,  # running moments of about 10 iterations' 32 samples for the 96-d covariance
         scale=40.0,  # the logged fid_std about 0.5-0.8, the instance rewards' 0.1-0.3
         feature_extractor=dict(type='TimmFeatures', model_name='test_resnet', model_options=dict(num_classes=12),
                                image_size=64,
                                checkpoint=(
                                    '{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/'
                                    'classifier/classifier.pth'))),
]))
custom_hooks = _base_.custom_hooks + [dict(type='AdaptiveEntropyHook', target_ratio=1.0)]
