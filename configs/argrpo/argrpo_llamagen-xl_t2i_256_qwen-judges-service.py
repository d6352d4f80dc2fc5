# AR-GRPO text-to-image with the paper's full reward, the Qwen2.5-VL judges behind a reward
# service (their own GPU, process or environment), started first:
#   python tools/reward_server.py configs/reward_services/qwen2.5-vl-3b_judges.py --port 8600 --device cuda:4
# With rollout_chunk set, the judges score chunk k while chunk k+1 is sampled. A token, if the
# server has one, comes from $ARGRPO_REWARD_TOKEN on both sides (never from this file: a config is
# copied into the work dir, the log and every checkpoint, and RemoteReward(token=...) is refused).
# A restart of the server within about a minute is waited for
# (docs/user_guides/reward_services_hardening.md).
_base_ = ['./argrpo_llamagen-xl_t2i_256.py']
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
            dict(type='RemoteReward', name='vlm', url='http://127.0.0.1:8600', timeout=600.0),
        ]))
