# Stage 4 as the AR-GRPO paper runs it: rollouts, and the evaluation's samples, with
# classifier-free guidance (the paper's class-to-image scale, 2.0). Each token then costs two GPT
# passes (conditional and unconditional), in training and in sampling.
_base_ = ['./shapes_grpo.py']
model = dict(sampler=dict(cfg_scale=2.0))
