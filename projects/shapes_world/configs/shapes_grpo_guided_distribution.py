# The guided run (shapes_grpo_guided.py) with the distribution reward and entropy control of
# shapes_grpo_distribution.py.
_base_ = ['./shapes_grpo_distribution.py']
model = dict(sampler=dict(cfg_scale=2.0))
