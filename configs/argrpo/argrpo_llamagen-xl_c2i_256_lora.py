_base_ = './argrpo_llamagen-xl_c2i_256.py'
# GPT-XL at 256 px with LoRA: rank-32 adapters on every transformer-block linear (wqkv, wo, w1, w2,
# w3; 25.7M parameters, 3.3% of the GPT's) train, the GPT's own weights stay frozen, and the
# reference of the KL term is the GPT with the adapters off, not a second copy. Checkpoints hold
# the adapters; tools/merge_lora.py writes the merged GPT as a LlamaGen file.
model = dict(lora=dict(r=32, lora_alpha=32, lora_dropout=0.0))
# LoRA usually takes a larger learning rate than full fine-tuning (1e-5 in the base): a starting
# point, not a tuned value
optim_wrapper = dict(optimizer=dict(lr=1e-4))
