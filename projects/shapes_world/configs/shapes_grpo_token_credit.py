# Stage 4 with token credit from the group (issue 22, as STAGE does): a token that the other samples
# of its group drew too at the same position (the world's VQ has 128 codes for 64 positions: the
# background's tokens are often shared) carries less of its sample's advantage and KL:
# weight = max(0.1, 1 - agreement), agreement the fraction of the other 7 samples with the same code
# there. The log's token_agreement and token_weight are their means.
_base_ = ['./shapes_grpo.py']
model = dict(algorithm=dict(token_credit=dict(match='exact', strength=1.0, power=1.0, min_weight=0.1)))
