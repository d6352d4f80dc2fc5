# Text-to-image stage 3: the text-conditional GPT (_base_/models/shapes_gpt_t2i.py) on two-shape
# scenes, conditioned on the world CLIP's caption features. Exported -> gpt_t2i/gpt.pt.
_base_ = ['./_base_/shapes_stage.py', './_base_/models/shapes_gpt_t2i.py']
model = dict(type='ARSFTModel')
train_dataloader = dict(dataset=dict(mode='caption'))
train_cfg = dict(max_iters=1200)
custom_hooks = [dict(type='ExportWeightsHook', module='generator', path='gpt.pt')]
