# AR-GRPO, class-to-image, LlamaGen GPT-B at 256 px. Paper settings: G = 8, beta = 0.1 (k3),
# CFG 2.0 in rollouts, clip 0.2, one update per rollout, token-level loss, 400 steps, lr 1e-5.
# The reward comes with the model base (configs/_base_/rewards/argrpo_rewards.py).
_base_ = ['../_base_/models/llamagen_c2i_b_256.py', '../_base_/datasets/imagenet_class_prompts.py',
          '../_base_/schedules/grpo_400it.py', '../_base_/evaluation/imagenet_c2i.py',
          '../_base_/default_runtime.py']
model = dict(
    type='ARGRPOModel',
    sampler=dict(cfg_scale=2.0),
    algorithm=dict(type='GRPO', group_size=8, adv_norm='group', std_eps=1e-4, eps_low=0.2,
                   beta=0.1, kl_estimator='k3', loss_agg='token', inner_epochs=1, minibatches=1),
    rollout_chunk=16)
