# Text-to-image stage 4 with per-component advantages (issue 22): the attribute reward (weight 2)
# and CLIP normalised in their groups one by one, then weighted and summed (adv_<name> in the log).
_base_ = ['./shapes_grpo_t2i.py']
model = dict(algorithm=dict(component_norm=True))
