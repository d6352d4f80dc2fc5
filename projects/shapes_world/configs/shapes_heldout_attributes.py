# Text-to-image stage 2e: the held-out attribute judge of the GenEval-like check: a small ViT,
# another seed, images of seed 7. Not a reward. Exported -> heldout_attributes/heldout_attributes.pth.
_base_ = ['./_base_/shapes_stage.py', './_base_/models/shapes_vq.py']
model = dict(type='ImageClassifierTrainer', model_name='test_vit', heads=(4, 3, 4, 3), image_size=32,
             model_options=dict(num_classes=14, img_size=32, patch_size=4))
train_dataloader = dict(dataset=dict(mode='caption', seed=7))
train_cfg = dict(max_iters=900)
randomness = dict(seed=7)
custom_hooks = [dict(type='ExportWeightsHook', module='net', path='heldout_attributes.pth', wrap_key=None)]
