_base_ = './grpo_400it.py'
param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
                        begin=0, end=600)]
train_cfg = dict(max_iters=600, val_interval=600)
