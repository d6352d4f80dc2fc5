# LlamaGen text-conditional GPT-XL at 256 px (stage 1), 120 FLAN-T5-XL caption tokens (2048-d).
# Weights: t2i_XL_stage1_256.pt, vq_ds16_t2i.pt, and a local copy of google/flan-t5-xl.
# Trained with AR-GRPO's reward (model.reward, from the rewards base); tools/sample.py reads
# only the generator, tokenizer, text encoder and sampler.
_base_ = '../rewards/argrpo_rewards.py'
model = dict(
    generator=dict(
        type='LlamaGenGPT', arch='GPT-XL', model_type='t2i', caption_dim=2048,
        cls_token_num=120, vocab_size=16384, block_size=256,
        checkpoint='checkpoints/llamagen/t2i_XL_stage1_256.pt'),
    tokenizer=dict(
        type='LlamaGenVQ', arch='VQ-16', checkpoint='checkpoints/llamagen/vq_ds16_t2i.pt'),
    text_encoder=dict(type='T5TextEncoder', path='checkpoints/flan-t5-xl', max_length=120),
    sampler=dict(type='TokenSampler', temperature=1.0, top_k=0, top_p=1.0, cfg_scale=4.0),
)
