# A tiny class-conditional GPT and VQ tokenizer with random weights: shows the sampling path on
# any CPU in seconds. Point generator.checkpoint / tokenizer.checkpoint (or --gpt-ckpt /
# --vq-ckpt) at trained files of these shapes to sample real images.
model = dict(
    generator=dict(
        type='LlamaGenGPT', n_layer=2, n_head=4, dim=128, multiple_of=32, model_type='c2i',
        num_classes=10, vocab_size=256, block_size=64, checkpoint=None),
    tokenizer=dict(
        type='LlamaGenVQ', ch=32, ch_mult=(1, 2), z_channels=32, codebook_size=256,
        codebook_embed_dim=8, checkpoint=None),
    sampler=dict(type='TokenSampler', temperature=1.0, top_k=0, top_p=1.0, cfg_scale=2.0),
)
