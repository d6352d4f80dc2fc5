# AR-GRPO's reward (all weights 1 after the per-model scaling): CLIP ViT-B/32 x5, HPS v2.1 x5,
# MANIQA (x - 0.5) / 0.5 x2, and realism. The paper's realism judge is Qwen2.5-VL; argrpo's
# stand-in where no VLM runs is CLIPRealism (see argrpo/rewards/clip_score.py).
# The policy bases of configs/_base_/models/ inherit it: MMEngine refuses two sibling bases that
# both set `model`, and a top-level `reward` would be a stray key of every dumped config.
model = dict(
    reward=dict(
        type='WeightedSum',
        rewards=[
            dict(type='CLIPScore', name='clip', arch='ViT-B-32-quickgelu', scale=5.0,
                 checkpoint='checkpoints/clip/ViT-B-32-openai.bin'),
            dict(type='HPSv2', name='hps', scale=5.0,
                 checkpoint='checkpoints/hps/HPS_v2.1_compressed.pt'),
            dict(type='IQAReward', name='maniqa', metric='maniqa', offset=0.5, scale=2.0, weight=2.0,
                 checkpoint='checkpoints/pyiqa/ckpt_koniq10k.pt'),
            dict(type='CLIPRealism', name='realism', arch='ViT-B-32-quickgelu',
                 checkpoint='checkpoints/clip/ViT-B-32-openai.bin'),
        ]))
