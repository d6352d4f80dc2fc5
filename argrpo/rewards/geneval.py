"""GenEval as a reward (as Flow-GRPO trains on it): GenEval's rules
(``argrpo.evaluation.geneval``) on each sample, for prompts of GenEval's metadata format."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from argrpo.evaluation.geneval import ColourClassifier, GenEvalJudge
from argrpo.registry import REWARDS
from .base import BaseReward


@REWARDS.register_module()
class GenEvalReward(BaseReward):
    """1 when every requirement of the prompt holds, else 0; with ``partial_credit`` the
    fraction of its requirements that hold (a count, a colour, a position per object clause,
    one per excluded count), a denser signal for GRPO.

    Args:
        metadata, detector, colour_classifier, rules: those of ``GenEvalJudge``. A prompt that
            the metadata lacks is an error naming it.
        partial_credit: the fraction of requirements instead of all-or-nothing.
    """

    def __init__(self, metadata: str, detector: dict, colour_classifier: Union[dict, ColourClassifier, None] = None,
                 rules: Optional[dict] = None, partial_credit: bool = False, name: Optional[str] = None):
        super().__init__(name or 'geneval')
        self.judge = GenEvalJudge(metadata, detector, colour_classifier, rules)
        self.partial_credit = partial_credit
        self.freeze()

    def score(self, images: Tensor, prompts: Sequence[str]) -> Tensor:
        self.judge.to(images.device)
        verdicts = self.judge(images, prompts)
        values = [v.fraction if self.partial_credit else float(v.correct) for v in verdicts]
        return torch.tensor(values, device=images.device)
