_base_ = './argrpo_llamagen-b_c2i_256.py'
model = dict(generator=dict(arch='GPT-L', checkpoint='checkpoints/llamagen/c2i_L_256.pt'))
