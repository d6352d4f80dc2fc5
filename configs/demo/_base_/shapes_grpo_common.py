# What both demo GRPO runs share: the paper's sampler settings (temperature 1, no top-k / top-p;
# no CFG here), group size 8, a light k3 KL, 4 prompts x 8 samples per iteration, evaluation
# batches for tools/test.py.
_base_ = ['../../_base_/default_runtime.py', './shapes_models.py']
model = dict(
    type='ARGRPOModel', tokenizer={{_base_.vq}},
    sampler=dict(type='TokenSampler', temperature=1.0, top_k=0, top_p=1.0, cfg_scale=1.0),
    algorithm=dict(type='GRPO', group_size=8, beta=0.01, kl_estimator='k3', eps_low=0.2,
                   loss_agg='token', inner_epochs=1, minibatches=1))
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'))
optim_wrapper = dict(type='OptimWrapper', clip_grad=dict(max_norm=1.0),
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.0))
train_cfg = dict(type='GRPOTrainLoop', max_iters=100)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=100))
custom_hooks = [dict(type='SampleGridHook', interval=25), dict(type='EvalProgressHook')]
test_dataloader = dict(
    batch_size=48, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'))
test_cfg = dict(type='TestLoop')
