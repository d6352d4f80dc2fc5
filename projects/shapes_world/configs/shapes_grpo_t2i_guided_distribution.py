# The guided text-to-image run (shapes_grpo_t2i_guided.py) with the distribution reward and
# entropy control of shapes_grpo_t2i_distribution.py.
_base_ = ['./shapes_grpo_t2i_distribution.py']
model = dict(sampler=dict(cfg_scale=4.0))
