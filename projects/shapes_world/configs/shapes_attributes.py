# Text-to-image stage 2d: the reward's attribute classifier: colour and shape of the top and of
# the bottom object of two-shape scenes (4 heads), images of seed 1 (half as VQ reconstructions)
# read at 64 px. Exported as a plain timm state dict -> attributes/attributes.pth.
_base_ = ['./_base_/shapes_stage.py', './_base_/models/shapes_vq.py']
model = dict(type='ImageClassifierTrainer', model_name='test_resnet', heads=(4, 3, 4, 3),
             model_options=dict(num_classes=14), image_size=64)
train_dataloader = dict(dataset=dict(mode='caption'))
train_cfg = dict(max_iters=600)
custom_hooks = [dict(type='ExportWeightsHook', module='net', path='attributes.pth', wrap_key=None)]
