# What both GRPO runs of the shapes world share (the model's sampler and algorithm are in each
# run's config): 4 prompts per iteration, AdamW with gradient clipping, 100 iterations,
# sample grids, evaluation batches for tools/test.py (and for the runs' own evaluations).
_base_ = ['./shapes_runtime.py']
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'))
optim_wrapper = dict(type='OptimWrapper', clip_grad=dict(max_norm=1.0),
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.0))
train_cfg = dict(type='GRPOTrainLoop', max_iters=100)
# evaluation metrics logged at the iteration they were measured (MMEngine's default is the epoch)
default_hooks = dict(logger=dict(interval=10, log_metric_by_epoch=False), checkpoint=dict(interval=100))
custom_hooks = [dict(type='SampleGridHook', interval=25), dict(type='EvalProgressHook')]
test_dataloader = dict(
    batch_size=48, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'))
test_cfg = dict(type='TestLoop')
val_dataloader = test_dataloader  # each run evaluates its test set during training too (its config says how often)
val_cfg = dict(type='ValLoop')
