"""Token credit from the group: how much of a sample's advantage (and KL) each of its tokens carries.

GRPO gives every token of a sample the sample's advantage. A token that every sample of the group
drew at the same position (the background all samples share, say) cannot be what made one sample
better than another: it carries no preference. STAGE (an AR-GRPO study on Janus-Pro) down-weights
the advantage and the KL of such tokens; ``TokenCredit`` does so by their agreement across the
group.
"""
from typing import Optional

import torch
from torch import Tensor


class TokenCredit:
    """Per-token weights from the agreement of a group's samples at each position.

    The agreement of token ``t`` of sample ``i`` is the fraction of the other ``G - 1`` samples of
    its group whose token at ``t`` matches it: the same code (``match='exact'``), or a code whose
    codebook vector has a cosine similarity of at least ``threshold`` with it
    (``match='codebook'``, near in the VQ codebook). Its weight is

        w = max(min_weight, 1 - strength * agreement ** power)

    (``strength=1, power=1``: linear, 0 for a token all samples share; a larger ``power`` spares
    tokens shared by a few samples and down-weights the near-unanimous ones). With ``normalize``,
    each sample's weights are rescaled to a mean of 1 over its tokens, so that only the share of
    the sample's credit moves between tokens, not the size of its step (a sample whose weights are
    all 0 keeps them).

    Args:
        match: 'exact' or 'codebook'.
        threshold: the cosine similarity of codebook vectors from which two codes match
            (``match='codebook'``).
        strength: how much a full agreement removes, in [0, 1].
        power: the exponent of the agreement, > 0.
        min_weight: the floor of a weight, in [0, 1].
        normalize: rescale each sample's weights to a mean of 1.
        advantage: weight the clipped surrogate (the advantage term) of each token.
        kl: weight the KL term of each token.
    """

    def __init__(self, match: str = 'exact', threshold: float = 0.9, strength: float = 1.0, power: float = 1.0,
                 min_weight: float = 0.0, normalize: bool = False, advantage: bool = True, kl: bool = True):
        if match not in ('exact', 'codebook'):
            raise ValueError(f"token_credit match is 'exact' or 'codebook', got {match!r}")
        if not (0 <= strength <= 1 and power > 0 and 0 <= min_weight <= 1):
            raise ValueError(f'token_credit needs strength in [0, 1], power > 0 and min_weight in [0, 1]; got '
                             f'strength={strength}, power={power}, min_weight={min_weight}')
        if not (advantage or kl):
            raise ValueError('token_credit weights nothing: set advantage=True or kl=True')
        self.match, self.threshold, self.strength, self.power = match, threshold, strength, power
        self.min_weight, self.normalize, self.advantage, self.kl = min_weight, normalize, advantage, kl

    def agreement(self, tokens: Tensor, group_size: int, codebook: Optional[Tensor] = None) -> Tensor:
        """tokens [B * G, L] (groups contiguous) -> agreement [B * G, L] in [0, 1]: the fraction
        of the other samples of the group that match the token at its position. ``codebook``
        [V, D]: the VQ codebook vectors (needed by ``match='codebook'``)."""
        if tokens.dim() != 2 or len(tokens) % group_size:
            raise ValueError(f'tokens [B * G, L] in groups of {group_size}, got {tuple(tokens.shape)}')
        groups = tokens.view(-1, group_size, tokens.shape[1])  # [B, G, L]
        if self.match == 'exact':
            same = (groups[:, :, None, :] == groups[:, None, :, :]).float()  # [B, G, G, L]
        else:
            if codebook is None:
                raise ValueError("token_credit match='codebook' needs the VQ codebook vectors")
            vectors = torch.nn.functional.normalize(codebook.float()[groups], dim=-1)  # [B, G, L, D]
            cosine = torch.einsum('bild,bjld->bijl', vectors, vectors)
            same = ((cosine >= self.threshold) | (groups[:, :, None, :] == groups[:, None, :, :])).float()
        others = same.sum(2) - 1  # a token always matches itself
        return (others / (group_size - 1)).view_as(tokens)

    def weights(self, agreement: Tensor) -> Tensor:
        """agreement [n, L] -> weights [n, L] (see the class docstring)."""
        weight = (1 - self.strength * agreement.pow(self.power)).clamp(min=self.min_weight)
        if self.normalize:
            mean = weight.mean(1, keepdim=True)
            weight = torch.where(mean > 0, weight / mean.clamp(min=torch.finfo(weight.dtype).tiny), weight)
        return weight

    def __call__(self, tokens: Tensor, group_size: int, codebook: Optional[Tensor] = None) -> Tensor:
        return self.weights(self.agreement(tokens, group_size, codebook))
