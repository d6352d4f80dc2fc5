# What every supervised stage of the shapes world shares: the world as training data (drawn on
# the fly), AdamW, a log line every 100 iterations, one checkpoint at the end, and the trained part
# exported for the next stage (see each stage's ExportWeightsHook).
# Each stage exports into its work dir; later stages read the earlier ones' files from
# $ARGRPO_SHAPES_MODELS (default: the shipped model zoo; `tools/demo.py --from-scratch` sets it).
_base_ = ['./shapes_runtime.py']
train_dataloader = dict(
    batch_size=64, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ShapesDataset', length=1_000_000, mode='class', size=32, seed=1))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.0))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=100_000))
log_processor = dict(window_size=100)
custom_hooks = []
model_wrapper_cfg = dict(type='MMDistributedDataParallel')
