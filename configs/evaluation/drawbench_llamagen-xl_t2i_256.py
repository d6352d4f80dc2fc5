# DrawBench as AR-GRPO reports text-to-image: 200 prompts x 4 samples, each scored by CLIP, HPS v2.1,
# PickScore, ImageReward and the LAION aesthetic predictor; each metric's mean, std and standard error.
#   python tools/test.py configs/evaluation/drawbench_llamagen-xl_t2i_256.py CHECKPOINT
#   bash tools/dist_test.sh configs/evaluation/drawbench_llamagen-xl_t2i_256.py CHECKPOINT GPUS
# CHECKPOINT: a GRPO run of configs/argrpo/argrpo_llamagen-xl_t2i_256.py, or LlamaGen's t2i_XL_stage1_256.pt.
# ImageReward is served from its own environment (configs/reward_services/image_reward.py; start it
# first). The prompt file and every weight file: docs/user_guides/drawbench.md.
_base_ = ['../argrpo/argrpo_llamagen-xl_t2i_256.py']
test_dataloader = dict(dataset=dict(type='PromptFileDataset', path='data/drawbench/prompts.txt', repeat=4))
test_evaluator = [
    dict(type='RewardMetric', prefix='clip', reward=dict(
        type='CLIPScore', name='clip', arch='ViT-B-32-quickgelu', checkpoint='checkpoints/clip/ViT-B-32-openai.bin')),
    dict(type='RewardMetric', prefix='hps', reward=dict(
        type='HPSv2', name='hps', checkpoint='checkpoints/hps/HPS_v2.1_compressed.pt')),
    dict(type='RewardMetric', prefix='pickscore', reward=dict(
        type='PickScore', name='pickscore', path='checkpoints/PickScore_v1',
        processor='checkpoints/CLIP-ViT-H-14-laion2B-s32B-b79K')),
    # the served reward's score comes back under its name and RemoteReward's: report it once
    dict(type='RewardMetric', prefix='imagereward', keys=['imagereward'], reward=dict(
        type='RemoteReward', name='imagereward_remote', url='http://127.0.0.1:8601')),
    dict(type='RewardMetric', prefix='aesthetic', reward=dict(
        type='LAIONAesthetic', name='aesthetic', arch='ViT-L-14-quickgelu',
        clip_checkpoint='checkpoints/clip/ViT-L-14-openai.bin',
        checkpoint='checkpoints/aesthetic/sac+logos+ava1-l14-linearMSE.pth')),
]
