# Demo stage 4: AR-GRPO on the pre-trained shapes GPT. Reward: the reward classifier's
# probability of the prompted class plus the demo CLIP's cosine (the real CLIPScore path).
# Evaluation (tools/test.py, before and after): the rewards, the accuracy of a held-out
# classifier that is not a reward, sample diversity and FID in the held-out classifier's features
# against real images of the world.
_base_ = ['../_base_/default_runtime.py']
gpt = dict(type='LlamaGenGPT', n_layer=4, n_head=4, dim=128, multiple_of=64, vocab_size=128,
           block_size=64, num_classes=12, class_dropout_prob=0.1,
           checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/gpt/gpt.pt')
vq = dict(type='LlamaGenVQ', ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=16, norm_groups=8,
          codebook_size=128, codebook_embed_dim=8, codebook_show_usage=False,
          checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/vq/vq.pt')
reward = dict(type='WeightedSum', rewards=[
    dict(type='ClassifierReward', name='classifier', model_name='test_resnet',
         model_options=dict(num_classes=12), image_size=32, class_names='shapes', template='a {}',
         checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/classifier/classifier.pth'),
    dict(type='CLIPScore', name='clip', arch='ShapesCLIP-Tiny',
         checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/clip/clip.pth'),
])
model = dict(
    type='ARGRPOModel', generator=gpt, tokenizer=vq, reward=reward,
    sampler=dict(type='TokenSampler', temperature=1.0, top_k=0, top_p=1.0, cfg_scale=1.0),
    algorithm=dict(type='GRPO', group_size=8, beta=0.01, kl_estimator='k3', eps_low=0.2,
                   loss_agg='token', inner_epochs=1, minibatches=1))
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ClassPromptDataset', num_classes=12, class_names='shapes', template='a {}'))
optim_wrapper = dict(type='OptimWrapper', clip_grad=dict(max_norm=1.0),
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.0))
train_cfg = dict(type='GRPOTrainLoop', max_iters=100)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=100))
custom_hooks = [dict(type='SampleGridHook', interval=25), dict(type='EvalProgressHook')]

heldout = dict(type='TimmFeatures', model_name='test_vit', image_size=32,
               model_options=dict(num_classes=12, img_size=32, patch_size=4),
               checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/heldout/heldout.pth')
test_dataloader = dict(
    batch_size=48, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ClassPromptDataset', num_classes=12, class_names='shapes', template='a {}',
                 repeat=20))
test_evaluator = [
    dict(type='RewardMetric', reward=reward),
    dict(type='RewardMetric', prefix='heldout', reward=dict(
        type='ClassifierReward', name='accuracy', output='correct', model_name='test_vit',
        model_options=dict(num_classes=12, img_size=32, patch_size=4), image_size=32,
        class_names='shapes', template='a {}',
        checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/heldout/heldout.pth')),
    dict(type='DiversityMetric', feature_extractor=heldout),
    dict(type='DistributionMetrics', feature_extractor=heldout, metrics=['fid'],
         reference='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/real.npz'),
]
test_cfg = dict(type='TestLoop')
