# The paper's class-to-image run: GPT-XL at 384 px (576 tokens).
_base_ = './argrpo_llamagen-b_c2i_256.py'
model = dict(generator=dict(arch='GPT-XL', block_size=576,
                            checkpoint='checkpoints/llamagen/c2i_XL_384.pt'), rollout_chunk=8)
