# Text-to-image stage 4 as the AR-GRPO paper runs it: rollouts, and the evaluation's samples, with
# classifier-free guidance (4.0, the paper's text-to-image scale; the null caption is the
# unconditional model). Each token costs two GPT passes, in training and in sampling.
_base_ = ['./shapes_grpo_t2i.py']
model = dict(sampler=dict(cfg_scale=4.0))
