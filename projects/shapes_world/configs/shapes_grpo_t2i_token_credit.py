# Text-to-image stage 4 with token credit from the group (issue 22): as shapes_grpo_token_credit.py.
_base_ = ['./shapes_grpo_t2i.py']
model = dict(algorithm=dict(token_credit=dict(match='exact', strength=1.0, power=1.0, min_weight=0.1)))
