# Demo stage 3: supervised pre-training of a small class-conditional LlamaGen GPT on the VQ
# tokens of the world (label dropout 0.1 for CFG). Exported as LlamaGen's {'model': ...} -> gpt/gpt.pt.
_base_ = ['./_base_/shapes_stage.py', './_base_/shapes_models.py']
model = dict(type='ARSFTModel', generator={{_base_.gpt_c2i}}, tokenizer={{_base_.vq}}, cond_dropout=0.1)
train_cfg = dict(max_iters=1200)
custom_hooks = [dict(type='ExportWeightsHook', module='generator', path='gpt.pt')]
