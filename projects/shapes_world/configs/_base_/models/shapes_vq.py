# The world's VQ tokenizer (a LlamaGen VQ for 32 px: 4x downsampling, 8x8 = 64 tokens, 128
# l2-normalised codes), as every stage after the first reads it: from the file stage 1 exports.
model = dict(tokenizer=dict(
    type='LlamaGenVQ', ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=16, norm_groups=8,
    codebook_size=128, codebook_embed_dim=8, codebook_show_usage=False,
    checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/vq/vq.pt'))
