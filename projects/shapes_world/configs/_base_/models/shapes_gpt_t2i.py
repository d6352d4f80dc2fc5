# A small text-conditional LlamaGen GPT, conditioned on the world CLIP's per-token caption
# features (16 x 64, left-padded as LlamaGen); captions are dropped to the learned null caption at
# class_dropout_prob in supervised training.
_base_ = ['./shapes_vq.py']
model = dict(
    generator=dict(type='LlamaGenGPT', n_layer=4, n_head=4, dim=128, multiple_of=64, vocab_size=128,
                   block_size=64, model_type='t2i', caption_dim=64, cls_token_num=16, class_dropout_prob=0.1),
    text_encoder=dict(type='CLIPTextEncoder', arch='ShapesCLIP-Tiny',
                      checkpoint='{{$ARGRPO_SHAPES_MODELS:projects/shapes_world/model_zoo}}/clip/clip.pth'))
