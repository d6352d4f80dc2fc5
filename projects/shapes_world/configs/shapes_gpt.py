# Stage 3: supervised pre-training of the class-conditional GPT (_base_/models/shapes_gpt_c2i.py)
# on the VQ tokens of the world. Exported as LlamaGen's {'model': ...} -> gpt/gpt.pt.
_base_ = ['./_base_/shapes_stage.py', './_base_/models/shapes_gpt_c2i.py']
model = dict(type='ARSFTModel')
train_cfg = dict(max_iters=1200)
custom_hooks = [dict(type='ExportWeightsHook', module='generator', path='gpt.pt')]
