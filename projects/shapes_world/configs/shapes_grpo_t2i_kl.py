# Text-to-image stage 4 with the AR-GRPO paper's KL weight for text-to-image, 1.0
# (shapes_grpo_t2i.py: 0.01): the k3 penalty to the SFT model holds the policy near it
# (README, "Against the collapse").
_base_ = ['./shapes_grpo_t2i.py']
model = dict(algorithm=dict(beta=1.0))
