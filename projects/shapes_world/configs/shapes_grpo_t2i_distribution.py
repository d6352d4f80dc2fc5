# Text-to-image stage 4 against diversity collapse: shapes_grpo_t2i.py's instance rewards plus
# LeaveOneOutFID against real scenes (real_t2i.npz of the model zoo) in the pooled
# features of the reward's attribute classifier (never the held-out judge that evaluation uses),
# and AdaptiveEntropyHook holding the first iteration's mean per-token entropy.
_base_ = ['./shapes_grpo_t2i.py']
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo_t2i.py
    dict(type='LeaveOneOutFID', name='fid',
         reference='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/real_t2i.npz',
         cache_dir='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}',
         ema=0.9,  # running moments of about 10 iterations' 64 samples
         scale=60.0,  # the logged fid_std about 0.5-1, the instance rewards' 0.1-0.6
         feature_extractor=dict(type='TimmFeatures', model_name='test_resnet', model_options=dict(num_classes=14),
                                image_size=64,
                                checkpoint=(
                                    '{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/'
                                    'attributes/attributes.pth'))),
]))
custom_hooks = _base_.custom_hooks + [dict(type='AdaptiveEntropyHook', target_ratio=1.0)]
