# Stage 4 with per-component advantages (issue 22): each reward (classifier, CLIP) normalised in its
# group on its own, then weighted and summed, so that neither one's scale drowns the other's; the
# log's adv_<name> says what share of the advantage each one gave.
_base_ = ['./shapes_grpo.py']
model = dict(algorithm=dict(component_norm=True))
