# AR-GRPO's class-to-image schedule: lr 1e-5, linear decay, no warm-up, grad-norm clip 1.0, bf16
# (the whole iteration, rollouts included, in bf16 autocast; type='OptimWrapper' for float32).
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16', clip_grad=dict(max_norm=1.0),
                     optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.999), weight_decay=0.0))
param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
                        begin=0, end=400)]
# evaluation (val_* of the config) at the end of the run; lower val_interval for more often
train_cfg = dict(type='GRPOTrainLoop', max_iters=400, val_interval=400)
