# A tiny class-conditional GPT and VQ tokenizer (random weights unless checkpoints are given),
# trained with GRPO to draw a colour gradient (GradientReward). Runs on one CPU in seconds per iteration;
# the test suite uses it.
_base_ = ['../_base_/default_runtime.py']
model = dict(
    type='ARGRPOModel',
    generator=dict(type='LlamaGenGPT', n_layer=2, n_head=4, dim=64, multiple_of=32, vocab_size=8,
                   block_size=16, num_classes=4, checkpoint=None),
    tokenizer=dict(type='LlamaGenVQ', ch=32, ch_mult=(1, 2), z_channels=32, codebook_size=8,
                   codebook_embed_dim=4, checkpoint=None),
    sampler=dict(type='TokenSampler', cfg_scale=1.0),
    reward=dict(type='WeightedSum', rewards=[dict(type='GradientReward')]),
    algorithm=dict(type='GRPO', group_size=8, beta=0.01, inner_epochs=2, minibatches=2))
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ClassPromptDataset', num_classes=4, class_names=['a', 'b', 'c', 'd'],
                 template='{}'))
optim_wrapper = dict(type='OptimWrapper', clip_grad=dict(max_norm=1.0),
                     optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.0))
train_cfg = dict(type='GRPOTrainLoop', max_iters=40, val_interval=20)
default_hooks = dict(checkpoint=dict(interval=10))
custom_hooks = [dict(type='SampleGridHook', interval=10), dict(type='EvalProgressHook')]

# evaluation (every val_interval iterations, and tools/test.py): 4 samples per class
val_dataloader = dict(
    batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ClassPromptDataset', num_classes=4, class_names=['a', 'b', 'c', 'd'],
                 template='{}', repeat=4))
val_evaluator = [dict(type='RewardMetric', reward=dict(type='GradientReward'))]
val_cfg = dict(type='ValLoop')
test_dataloader, test_evaluator, test_cfg = val_dataloader, val_evaluator, dict(type='TestLoop')
