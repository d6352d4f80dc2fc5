# Stage 2a: the reward classifier (timm, 12 classes: colour x shape), trained on world images of
# seed 1, half of them as VQ reconstructions (what generated images look like), read at 64 px.
# Exported as a plain timm state dict -> classifier/classifier.pth.
_base_ = ['./_base_/shapes_stage.py', './_base_/models/shapes_vq.py']
model = dict(type='ImageClassifierTrainer', model_name='test_resnet', model_options=dict(num_classes=12),
             image_size=64)
train_cfg = dict(max_iters=400)
custom_hooks = [dict(type='ExportWeightsHook', module='net', path='classifier.pth', wrap_key=None)]
