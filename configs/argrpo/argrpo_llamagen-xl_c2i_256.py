_base_ = './argrpo_llamagen-b_c2i_256.py'
# GPT-XL at 256 px (LlamaGen's c2i_XL_384.pt is for 384 px: see argrpo_llamagen-xl_c2i_384.py)
model = dict(generator=dict(arch='GPT-XL', checkpoint='checkpoints/llamagen/c2i_XL_256.pt'))
