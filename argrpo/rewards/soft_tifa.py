"""Soft-TIFA (GenEval 2, Kamath et al., 2025): a prompt split into atomic yes/no questions
(objects, counts, attributes, relations), each answered by a vision-language model; an image
scores the mean over its atoms of the probability that the model answers yes.

GenEval 2 reads that probability from the answer's first token, not renormalised, and averages
it two ways: arithmetically per prompt (Soft-TIFA AM, the atom-level estimate) and geometrically
(Soft-TIFA GM, the prompt-level estimate: one atom near 0 sinks the prompt). Its questions ask
``'{question} Answer in one word.'``. Here the questions come from GenEval's own metadata
(``geneval_questions``) or from a file that lists them per prompt (``read_questions``).
"""
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from argrpo.datasets.geneval import metadata_by_prompt
from argrpo.registry import REWARDS, VLM_BACKENDS
from argrpo.utils import read_jsonl, to_uint8
from .base import BaseReward

ANSWERS = ('yes', 'Yes', 'no', 'No')  # the first tokens read: P(yes) sums the first two
NUMBER_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten')
# GenEval's class names whose plural is not the regular one ('skis', 'scissors' are plural already)
IRREGULAR_PLURALS = {'person': 'people', 'mouse': 'mice', 'sheep': 'sheep', 'knife': 'knives', 'skis': 'skis',
                     'scissors': 'scissors'}
RELATIONS = {'left of': 'to the left of', 'right of': 'to the right of', 'above': 'above', 'below': 'below'}


def _plural(noun: str) -> str:
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if noun.endswith(('s', 'x', 'z', 'ch', 'sh')):
        return noun + 'es'
    if noun.endswith('y') and noun[-2:-1] not in tuple('aeiou'):
        return noun[:-1] + 'ies'
    return noun + 's'


def _count(n: int, noun: str) -> str:
    """'one clock', 'two clocks', '12 clocks'."""
    return f'{NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else n} {noun if n == 1 else _plural(noun)}'


def _the(obj: dict) -> str:
    """'Is the clock' / 'Are the clocks': the verb and noun phrase of a required object."""
    return f'Is the {obj["class"]}' if obj['count'] == 1 else f'Are the {_plural(obj["class"])}'


def geneval_questions(record: dict) -> List[str]:
    """The atomic questions of one GenEval metadata record, each to be answered yes.

    For each included object, in order: its presence ('Is there a clock in the image?'); its
    count, 'exactly' when an exclude of the same class caps it at one more (GenEval's counting
    prompts: 'Are there exactly two clocks in the image?'), 'at least' for a count above one
    without a cap; its colour ('Is the clock red?'); its position against the object it names
    ('Is the dog to the right of the bench?'). Then each exclude that caps no include: 'Are there
    fewer than three clocks in the image?' ('Is there no clock in the image?' for a count of one).
    """
    include, exclude = record['include'], list(record.get('exclude', []))
    questions = []
    for obj in include:
        name, n = obj['class'], obj['count']
        questions.append(f'Is there {"an" if name[0] in "aeiou" else "a"} {name} in the image?')
        cap = next((e for e in exclude if e['class'] == name and e['count'] == n + 1), None)
        if cap is not None:
            exclude.remove(cap)
            verb = 'Is' if n == 1 else 'Are'
            questions.append(f'{verb} there exactly {_count(n, name)} in the image?')
        elif n > 1:
            questions.append(f'Are there at least {_count(n, name)} in the image?')
        if 'color' in obj:
            questions.append(f'{_the(obj)} {obj["color"]}?')
        if 'position' in obj:
            relation, target = obj['position']
            if relation not in RELATIONS or not 0 <= target < len(include):
                raise ValueError(f'GenEval prompt {record["prompt"]!r}: position {obj["position"]} is not '
                                 f'[one of {sorted(RELATIONS)}, an index of "include"]')
            reference = include[target]
            noun = reference['class'] if reference['count'] == 1 else _plural(reference['class'])
            questions.append(f'{_the(obj)} {RELATIONS[relation]} the {noun}?')
    for obj in exclude:
        name, m = obj['class'], obj['count']
        questions.append(f'Is there no {name} in the image?' if m == 1
                         else f'Are there fewer than {_count(m, name)} in the image?')
    return questions


def read_questions(path: str) -> Dict[str, List[str]]:
    """``{prompt: questions}`` of a jsonl file of ``{"prompt": str, "questions": [str, ...]}``
    lines, every question one to be answered yes. Each prompt once, with at least one question."""
    table = {}
    for n, record, line in read_jsonl(path, 'Soft-TIFA questions', 'It is a file of your own, one JSON object a '
                                      'line: {"prompt": ..., "questions": [...]} (docs/user_guides/soft_tifa.md).'):
        if not isinstance(record, dict) or not isinstance(record.get('prompt'), str) \
                or not isinstance(record.get('questions'), list):
            raise ValueError(f'{path}:{n} needs "prompt" (text) and "questions" (a list): {line.strip()[:200]}')
        prompt, questions = record['prompt'], record['questions']
        if not questions or not all(isinstance(q, str) and q.strip() for q in questions):
            raise ValueError(f'{path}:{n}: prompt {prompt!r} needs a non-empty list of non-empty questions')
        if prompt in table:
            raise ValueError(f'{path}:{n} repeats prompt {prompt!r}')
        table[prompt] = questions
    if not table:
        raise ValueError(f'Soft-TIFA questions {path} holds no prompts')
    return table


@REWARDS.register_module()
class SoftTIFA(BaseReward):
    """Soft-TIFA: the mean over a prompt's atomic questions of the VLM's P(yes), as a reward.

    Args:
        backend: the model that answers, a VLM_BACKENDS config (as ``VLMJudge``'s), e.g.
            ``dict(type='TransformersVLM', path=LOCAL_DIR)``. P(yes) is the probability of the
            answer's first token being 'yes' or 'Yes' (``first_token_probs``; ``OpenAIVLM`` also
            counts them with surrounding spaces, as GenEval 2 does).
        metadata: GenEval's ``evaluation_metadata.jsonl``: questions by ``geneval_questions``.
        questions: a jsonl of ``{"prompt", "questions"}`` (``read_questions``). Exactly one of
            ``metadata`` and ``questions``; a prompt they do not list is an error.
        template: the text asked per question, ``{question}`` replaced (GenEval 2's by default).

    ``components``: ``name`` (Soft-TIFA AM, the reward), ``'{name}/gm'`` (Soft-TIFA GM) and
    ``'{name}/hard'``, the fraction of atoms with P(yes) > P(no) ('no' and 'No'): TIFA's hard
    count, read from the same forward (TIFA counts the argmax token over the whole vocabulary).
    All atoms of a batch go to the backend in one call, which batches them.
    """

    def __init__(self, backend: dict, metadata: Optional[str] = None, questions: Optional[str] = None,
                 template: str = '{question} Answer in one word.', name: Optional[str] = None):
        super().__init__(name or 'soft_tifa')
        if (metadata is None) == (questions is None):
            raise ValueError('SoftTIFA takes exactly one of metadata= (GenEval\'s evaluation_metadata.jsonl) and '
                             'questions= (a jsonl of {"prompt": ..., "questions": [...]})')
        if '{question}' not in template:
            raise ValueError(f'SoftTIFA template must hold {{question}}, got {template!r}')
        self.source = metadata or questions
        self.questions = {prompt: geneval_questions(record) for prompt, record in metadata_by_prompt(
            metadata).items()} if metadata else read_questions(questions)
        self.template = template
        self.backend = VLM_BACKENDS.build(backend)
        self.freeze()

    def questions_of(self, prompt: str) -> List[str]:
        if prompt not in self.questions:
            raise ValueError(f'SoftTIFA has no questions for prompt {prompt!r}: {self.source} lists '
                             f'{len(self.questions)} other prompts')
        return self.questions[prompt]

    @torch.no_grad()
    def components(self, images: Tensor, prompts: Sequence[str]) -> Dict[str, Tensor]:
        if len(prompts) != len(images):
            raise ValueError(f'SoftTIFA got {len(images)} images and {len(prompts)} prompts')
        atoms = [self.questions_of(p) for p in prompts]
        pictures = [picture for picture, questions in zip(to_uint8(images), atoms) for _ in questions]
        texts = [self.template.replace('{question}', q) for questions in atoms for q in questions]
        probs = self.backend.first_token_probs(pictures, texts, ANSWERS).float()
        sizes = [len(questions) for questions in atoms]
        yes = (probs[:, 0] + probs[:, 1]).split(sizes)
        said_yes = (probs[:, 0] + probs[:, 1] > probs[:, 2] + probs[:, 3]).float().split(sizes)
        out = {self.name: torch.stack([p.mean() for p in yes]),
               f'{self.name}/gm': torch.stack([p.log().mean().exp() for p in yes]),
               f'{self.name}/hard': torch.stack([h.mean() for h in said_yes])}
        return {key: value.to(images.device) for key, value in out.items()}
