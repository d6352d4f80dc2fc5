_base_ = './llamagen_c2i_b_256.py'
# LlamaGen GPT-L at 256 px (FID 3.80 in LlamaGen's README).
model = dict(generator=dict(arch='GPT-L', checkpoint='checkpoints/llamagen/c2i_L_256.pt'))
