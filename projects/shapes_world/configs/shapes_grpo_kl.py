# Stage 4 with the AR-GRPO paper's KL weight for class-to-image, 0.1 (shapes_grpo.py: 0.01): a
# k3 penalty to the SFT model ten times the baseline's (README, "Against the collapse").
_base_ = ['./shapes_grpo.py']
model = dict(algorithm=dict(beta=0.1))
