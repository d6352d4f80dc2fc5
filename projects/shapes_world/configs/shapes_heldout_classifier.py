# Stage 2b: the held-out judge. Not a reward: another architecture (a small ViT), another seed and
# other images (seed 7; half as VQ reconstructions). Its accuracy on samples, and FID in its
# feature space, measure what GRPO did. Exported -> heldout/heldout.pth.
_base_ = ['./_base_/shapes_stage.py', './_base_/models/shapes_vq.py']
model = dict(type='ImageClassifierTrainer', model_name='test_vit', image_size=32,
             model_options=dict(num_classes=12, img_size=32, patch_size=4))
train_dataloader = dict(dataset=dict(seed=7))
train_cfg = dict(max_iters=600)
randomness = dict(seed=7)
custom_hooks = [dict(type='ExportWeightsHook', module='net', path='heldout.pth', wrap_key=None)]
