# A small class-conditional LlamaGen GPT over the world's 12 classes and 64 VQ tokens; labels are
# dropped to the null class at class_dropout_prob in supervised training (CFG's unconditional model).
_base_ = ['./shapes_vq.py']
model = dict(generator=dict(
    type='LlamaGenGPT', n_layer=4, n_head=4, dim=128, multiple_of=64, vocab_size=128, block_size=64,
    num_classes=12, class_dropout_prob=0.1))
