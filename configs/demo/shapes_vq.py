# Demo stage 1: a LlamaGen VQ tokenizer for 32 px shapes: 4x downsampling (8x8 = 64 tokens),
# 128 l2-normalised codes. Exported as LlamaGen's {'model': state_dict} -> vq/vq.pt.
_base_ = ['./_base_/shapes_stage.py']
model = dict(type='VQTokenizerTrainer', tokenizer=dict(
    type='LlamaGenVQ', ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=16, norm_groups=8,
    codebook_size=128, codebook_embed_dim=8, codebook_show_usage=False))
# single shapes and two-shape scenes: one tokenizer for both demo tasks
train_dataloader = dict(batch_size=32, dataset=dict(mode='mixed'))
train_cfg = dict(max_iters=600)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
custom_hooks = [dict(type='ExportWeightsHook', module='tokenizer', path='vq.pt')]
