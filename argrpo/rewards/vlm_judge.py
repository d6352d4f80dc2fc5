"""AR-GRPO's realism judges: a vision-language model (Qwen2.5-VL in the paper) asked questions
about each image, its answers turned into scores.

Two kinds of question: a score ('rate the image from 0 to 5', the paper's 5-aspect judge, whose
total it divides by 4) and a yes/no question that scores 1 for the named answer (the paper's
'AI-generated?' and 'strange features?' judges, answered 'no'). The paper samples an answer and
parses it (``mode='generate'``); ``mode='logprob'`` reads the answer's first-token probabilities
in one forward instead: deterministic, never unreadable, and a graded score rather than a draw.
"""
import json
import re
from dataclasses import dataclass, fields
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from argrpo.registry import REWARDS, VLM_BACKENDS
from argrpo.utils import to_uint8
from .base import BaseReward

YES_NO = ('yes', 'no')
FIRST_DIGIT = 2 * len(YES_NO)  # where the digits start among the logprob candidates
MODES = ('logprob', 'generate')
_NUMBER = r'-?\d+(?:\.\d+)?'


@dataclass(frozen=True)
class Question:
    """One judge. ``prompt`` may hold ``{prompt}``, replaced by the image's caption. ``answer``:
    'score' (a number from 0 to ``max_score``, times ``scale``) or 'yes' / 'no' (scores 1 when
    the model gives that answer, else 0). ``weight`` multiplies the score in the reward."""

    name: str
    prompt: str
    answer: str = 'score'
    max_score: int = 5
    scale: float = 1.0
    weight: float = 1.0

    @property
    def is_score(self) -> bool:
        return self.answer == 'score'


def _question(cfg: dict) -> Question:
    unknown = set(cfg) - {f.name for f in fields(Question)}
    if unknown or not {'name', 'prompt'} <= set(cfg):
        raise ValueError(f'a VLMJudge question needs name= and prompt= and takes answer=, max_score=, scale=, '
                         f'weight=; got {sorted(cfg)}')
    question = Question(**cfg)
    if not (question.is_score or question.answer in YES_NO):
        raise ValueError(f"question {question.name!r}: answer must be 'score', 'yes' or 'no', not {question.answer!r}")
    if question.is_score and question.max_score <= 0:
        raise ValueError(f'question {question.name!r}: max_score must be positive')
    return question


def _number(value) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r'\s*' + _NUMBER + r'\s*', value):
        return float(value)
    return None


def _json_objects(text: str) -> List[dict]:
    """Every JSON object that starts at a '{' of ``text`` (inside code fences, amid prose)."""
    decoder, found = json.JSONDecoder(), []
    for start in (m.start() for m in re.finditer(r'\{', text)):
        try:
            obj, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def parse_score(text: str, max_score: int) -> Optional[float]:
    """The number an answer gives, or None when there is none in [0, ``max_score``].

    Read in order: the first JSON object's "total" (any case), else the sum of its numeric
    sub-scores; else a "total": number in broken JSON; else, if the answer has no '{', its first
    number ('4', 'Score: 4/5').
    """
    value = None
    for obj in _json_objects(text):
        totals = [_number(v) for k, v in obj.items() if k.lower() == 'total']
        parts = [n for n in map(_number, obj.values()) if n is not None]
        value = totals[0] if totals else (sum(parts) if parts else None)
        break
    if value is None:
        total = re.search(r'total\W{0,3}(' + _NUMBER + ')', text, re.IGNORECASE)
        bare = re.search(r'(?<![\w.])(' + _NUMBER + ')', text) if '{' not in text else None
        match = total or bare
        value = float(match.group(1)) if match else None
    return value if value is not None and 0 <= value <= max_score else None


def parse_yes_no(text: str) -> Optional[str]:
    """'yes' / 'no' when the answer starts with it ('No.', '**Yes**, ...') or names only one of
    them as a word; None otherwise."""
    first = re.match(r'\W*(yes|no)\b', text, re.IGNORECASE)
    if first:
        return first.group(1).lower()
    named = set(re.findall(r'\b(yes|no)\b', text.lower()))
    return named.pop() if len(named) == 1 else None


@REWARDS.register_module()
class VLMJudge(BaseReward):
    """A vision-language model's answers to ``questions`` about each image, as rewards.

    Args:
        backend: the model that answers, a VLM_BACKENDS config: ``dict(type='TransformersVLM',
            path=LOCAL_DIR, dtype='bfloat16')`` or ``dict(type='OpenAIVLM', base_url=..., model=...)``.
        questions: dicts of ``Question`` (name, prompt, answer='score', max_score=5, scale=1.0,
            weight=1.0), e.g. the paper's ``dict(name='quality', prompt=..., scale=0.25)`` and
            ``dict(name='not_ai_generated', prompt='Is the image AI-generated? Answer yes or no.',
            answer='no')``.
        mode: 'logprob' (default): the probabilities of the answer's first token, renormalised
            over the possible answers: a yes/no question scores P(named) / (P(yes) + P(no)), where
            P(yes) counts 'yes' and 'Yes' (likewise 'no'); a score question scores the expected
            digit 0 ... ``max_score`` times ``scale``. The prompt must ask for the bare answer
            first (a digit, or yes / no). 'generate': the paper's sampled answer, parsed by
            ``parse_score`` / ``parse_yes_no``.
        temperature, max_new_tokens: of the answers in 'generate' mode (0: greedy).
        unreadable_score: the score of an answer that cannot be read (default 0: no reward for
            an off-format answer). In 'logprob' mode an answer is unreadable only when no possible
            answer has any probability (none in a server's top 20).

    ``components``: ``'{name}/{question}'`` per question ([N], before weights) and
    ``'{name}/unreadable'``, the fraction of each sample's answers that could not be read.
    The reward is the weighted sum of the questions' scores.
    """

    def __init__(self, backend: dict, questions: Sequence[dict], mode: str = 'logprob', temperature: float = 1.0,
                 max_new_tokens: int = 64, unreadable_score: float = 0.0, name: Optional[str] = None):
        super().__init__(name or 'vlm_judge')
        if mode not in MODES:
            raise ValueError(f'VLMJudge mode must be one of {MODES}, not {mode!r}')
        self.questions = [_question(dict(q)) for q in questions]
        names = [q.name for q in self.questions]
        if not names or len(set(names)) < len(names) or 'unreadable' in names:
            raise ValueError(f"VLMJudge needs questions with unique names other than 'unreadable', got {names}")
        if mode == 'logprob' and any(q.is_score and q.max_score > 9 for q in self.questions):
            raise ValueError("mode='logprob' reads a score as one digit: max_score must be at most 9")
        self.backend = VLM_BACKENDS.build(backend)
        self.mode, self.temperature, self.max_new_tokens = mode, temperature, max_new_tokens
        self.unreadable_score = unreadable_score
        self.freeze()

    def key(self, question: Question) -> str:
        return f'{self.name}/{question.name}'

    def _candidates(self) -> List[str]:
        """The first tokens a logprob read looks at: yes / no in both cases, then the digits."""
        top = max((q.max_score for q in self.questions if q.is_score), default=-1)
        return [w for word in YES_NO for w in (word, word.capitalize())] + [str(d) for d in range(top + 1)]

    def _logprob_scores(self, images: List[np.ndarray], texts: List[str], n: int) -> Tensor:
        """``[Q, N]`` scores, NaN where no possible answer has probability (unreadable)."""
        candidates = self._candidates()
        probs = self.backend.first_token_probs(images, texts, candidates).float().view(len(self.questions), n, -1)
        scores = []
        for question, p in zip(self.questions, probs):
            if question.is_score:
                digits = p[:, FIRST_DIGIT:FIRST_DIGIT + question.max_score + 1]
                values = torch.arange(question.max_score + 1, dtype=p.dtype)
                scores.append(question.scale * (digits * values).sum(-1) / digits.sum(-1))
            else:
                yes, no = p[:, 0] + p[:, 1], p[:, 2] + p[:, 3]
                scores.append((yes if question.answer == 'yes' else no) / (yes + no))
        return torch.stack(scores)

    def _generated_scores(self, images: List[np.ndarray], texts: List[str], n: int) -> Tensor:
        answers = self.backend.generate(images, texts, self.max_new_tokens, self.temperature)
        scores = torch.full((len(self.questions), n), float('nan'))
        for i, question in enumerate(self.questions):
            for j, answer in enumerate(answers[i * n:(i + 1) * n]):
                if question.is_score:
                    value = parse_score(answer, question.max_score)
                    if value is not None:
                        scores[i, j] = question.scale * value
                else:
                    said = parse_yes_no(answer)
                    if said is not None:
                        scores[i, j] = float(said == question.answer)
        return scores

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        n = len(images)
        if len(prompts) != n:
            raise ValueError(f'VLMJudge got {n} images and {len(prompts)} prompts')
        pictures = list(to_uint8(images)) * len(self.questions)
        texts = [q.prompt.replace('{prompt}', p) for q in self.questions for p in prompts]
        read = self._logprob_scores if self.mode == 'logprob' else self._generated_scores
        scores = read(pictures, texts, n)
        unreadable = scores.isnan()
        scores = scores.masked_fill(unreadable, self.unreadable_score).to(images.device)
        out = {self.key(q): s for q, s in zip(self.questions, scores)}
        out[f'{self.name}/unreadable'] = unreadable.float().mean(0).to(images.device)
        return out

    def combine(self, components: Dict[str, Tensor]) -> Tensor:
        return sum(q.weight * components[self.key(q)] for q in self.questions)
