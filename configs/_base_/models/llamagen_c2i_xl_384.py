_base_ = './llamagen_c2i_b_256.py'
# LlamaGen GPT-XL at 384 px (576 tokens), the AR-GRPO paper's class-to-image policy.
model = dict(generator=dict(arch='GPT-XL', block_size=576,
                            checkpoint='checkpoints/llamagen/c2i_XL_384.pt'))
