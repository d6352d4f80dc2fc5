default_scope = 'argrpo'
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork'), dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0)
log_level = 'INFO'
log_processor = dict(by_epoch=False, window_size=1)
load_from = None
resume = False
default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic writes: a kill while saving leaves the previous checkpoint usable
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=3,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='SampleGridHook', interval=50), dict(type='EvalProgressHook')]
visualizer = dict(type='Visualizer',
                  vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
# scoped: the Runner looks wrapper types up in MMEngine's root registry, which knows argrpo's child
model_wrapper_cfg = dict(type='argrpo.GRPODistributedDataParallel')
