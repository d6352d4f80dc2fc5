# Stage 1: the world's LlamaGen VQ tokenizer (_base_/models/shapes_vq.py), trained from scratch on
# single shapes and two-shape scenes (one tokenizer for both tasks). Exported as LlamaGen's
# {'model': state_dict} -> vq/vq.pt.
_base_ = ['./_base_/shapes_stage.py', './_base_/models/shapes_vq.py']
model = dict(type='VQTokenizerTrainer', tokenizer=dict(checkpoint=None))
train_dataloader = dict(batch_size=32, dataset=dict(mode='mixed'))
train_cfg = dict(max_iters=600)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
custom_hooks = [dict(type='ExportWeightsHook', module='tokenizer', path='vq.pt')]
