# LlamaGen class-conditional GPT-B at 256 px (256 VQ-16 tokens), FID 5.46 in LlamaGen's README.
# Weights: c2i_B_256.pt and vq_ds16_c2i.pt from the LlamaGen release, put under checkpoints/llamagen/.
# Trained with AR-GRPO's reward (model.reward, from the rewards base); tools/sample.py reads
# only the generator, tokenizer, text encoder and sampler.
_base_ = '../rewards/argrpo_rewards.py'
model = dict(
    generator=dict(
        type='LlamaGenGPT', arch='GPT-B', model_type='c2i', num_classes=1000,
        vocab_size=16384, block_size=256,
        checkpoint='checkpoints/llamagen/c2i_B_256.pt'),
    tokenizer=dict(
        type='LlamaGenVQ', arch='VQ-16', codebook_size=16384, codebook_embed_dim=8,
        checkpoint='checkpoints/llamagen/vq_ds16_c2i.pt'),
    sampler=dict(type='TokenSampler', temperature=1.0, top_k=0, top_p=1.0, cfg_scale=2.0),
)
