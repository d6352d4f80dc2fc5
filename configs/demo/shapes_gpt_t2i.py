# Demo (text-to-image) stage 3: a small text-conditional LlamaGen GPT on two-shape scenes,
# conditioned on the demo CLIP's caption features, caption dropout 0.1 to the learned null
# caption. Exported -> gpt_t2i/gpt.pt.
_base_ = ['./_base_/shapes_stage.py', './_base_/shapes_models.py']
model = dict(type='ARSFTModel', generator={{_base_.gpt_t2i}}, tokenizer={{_base_.vq}},
             text_encoder={{_base_.text_encoder}}, cond_dropout=0.1)
train_dataloader = dict(dataset=dict(mode='caption'))
train_cfg = dict(max_iters=1200)
custom_hooks = [dict(type='ExportWeightsHook', module='generator', path='gpt.pt')]
