# The demo's generator-side models, shared by its stages: the VQ tokenizer of stage 1 (read from
# its exported file by every later stage) and the class- and text-conditional GPTs.
vq = dict(type='LlamaGenVQ', ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=16, norm_groups=8,
          codebook_size=128, codebook_embed_dim=8, codebook_show_usage=False,
          checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/vq/vq.pt')
gpt_c2i = dict(type='LlamaGenGPT', n_layer=4, n_head=4, dim=128, multiple_of=64, vocab_size=128,
               block_size=64, num_classes=12, class_dropout_prob=0.1)
# conditioned on the demo CLIP's per-token caption features (16 x 64, left-padded as LlamaGen)
gpt_t2i = dict(type='LlamaGenGPT', n_layer=4, n_head=4, dim=128, multiple_of=64, vocab_size=128,
               block_size=64, model_type='t2i', caption_dim=64, cls_token_num=16)
text_encoder = dict(type='CLIPTextEncoder', arch='ShapesCLIP-Tiny',
                    checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/clip/clip.pth')
# the GPTs after their supervised stage (the policies that GRPO starts from)
gpt_c2i_sft = dict(gpt_c2i, checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/gpt/gpt.pt')
gpt_t2i_sft = dict(gpt_t2i, checkpoint='{{$ARGRPO_DEMO_DIR:work_dirs/demo}}/gpt_t2i/gpt.pt')
