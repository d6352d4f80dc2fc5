# AR-GRPO text-to-image with the paper's full reward, all in the training process: CLIP x5,
# HPS v2.1 x5, MANIQA x2 and the three Qwen2.5-VL judges (configs/reward_services/
# qwen2.5-vl-3b_judges.py) in place of the CLIPRealism stand-in.
_base_ = ['./argrpo_llamagen-xl_t2i_256.py', '../reward_services/qwen2.5-vl-3b_judges.py']
model = dict(
    reward=dict(
        _delete_=True,
        type='WeightedSum',
        rewards=[
            dict(type='CLIPScore', name='clip', arch='ViT-B-32-quickgelu', scale=5.0,
                 checkpoint='checkpoints/clip/ViT-B-32-openai.bin'),
            dict(type='HPSv2', name='hps', scale=5.0, checkpoint='checkpoints/hps/HPS_v2.1_compressed.pt'),
            dict(type='IQAReward', name='maniqa', metric='maniqa', offset=0.5, scale=2.0, weight=2.0,
                 checkpoint='checkpoints/pyiqa/ckpt_koniq10k.pt'),
            {{_base_.reward}},
        ]))
reward = None  # the judges' base sets a top-level reward; here it lives in model.reward
