# Demo stage 3: supervised pre-training of a small class-conditional LlamaGen GPT on the VQ
# tokens of the world (label dropout 0.1 for CFG). Exported as LlamaGen's {'model': ...} -> gpt/gpt.pt.
_base_ = ['./_base_/shapes_stage.py']
gpt = dict(type='LlamaGenGPT', n_layer=4, n_head=4, dim=128, multiple_of=64, vocab_size=128,
           block_size=64, num_classes=12, class_dropout_prob=0.1)
vq = dict(type='LlamaGenVQ', ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=16, norm_groups=8,
          codebook_size=128, codebook_embed_dim=8, codebook_show_usage=False,
          checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/vq/vq.pt')
model = dict(type='ARSFTModel', generator=gpt, tokenizer=vq, cond_dropout=0.1)
train_cfg = dict(max_iters=600)
custom_hooks = [dict(type='ExportWeightsHook', module='generator', path='gpt.pt')]
