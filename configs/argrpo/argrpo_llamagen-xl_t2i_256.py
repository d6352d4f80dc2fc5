# AR-GRPO, text-to-image, LlamaGen GPT-XL stage 1 at 256 px: beta 1.0, CFG 4.0, 600 steps,
# 8 captions x 8 samples a step over 4 GPUs x 16 images (2 captions per GPU).
# The reward comes with the model base (configs/_base_/rewards/argrpo_rewards.py).
_base_ = ['../_base_/models/llamagen_t2i_xl_256.py', '../_base_/datasets/coco_captions.py',
          '../_base_/schedules/grpo_600it.py', '../_base_/evaluation/prompt_rewards.py',
          '../_base_/default_runtime.py']
model = dict(
    type='ARGRPOModel',
    sampler=dict(cfg_scale=4.0),
    algorithm=dict(type='GRPO', group_size=8, beta=1.0, kl_estimator='k3', eps_low=0.2),
    rollout_chunk=16)
