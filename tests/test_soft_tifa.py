"""Soft-TIFA: the questions derived from GenEval metadata (each tag, exact strings), the questions
file reader and its errors, the scores against an independent computation with a stand-in
backend whose P(yes) is set here, and the tiny random Qwen2.5-VL of test_vlm_judge through the
reward (against a hand computation from its logits) and through RewardMetric from the config."""
import json
import os.path as osp
import statistics

import pytest
import torch
import transformers
from mmengine.config import Config
from torch import nn

from test_vlm_judge import uint8, vlm_dir  # noqa: F401 (a fixture)

from argrpo.registry import METRICS, REWARDS
from argrpo.rewards.soft_tifa import geneval_questions, read_questions

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'evaluation', 'soft_tifa_geneval_llamagen-xl_t2i_256.py')
SUFFIX = ' Answer in one word.'


def obj(name, count=1, **extra):
    return {'class': name, 'count': count, **extra}


# GenEval's six tags, written as its evaluation_metadata.jsonl writes them
GENEVAL = [
    ({'tag': 'single_object', 'include': [obj('umbrella')], 'prompt': 'a photo of an umbrella'},
     ['Is there an umbrella in the image?']),
    ({'tag': 'two_object', 'include': [obj('hair drier'), obj('bench')],
      'prompt': 'a photo of a hair drier and a bench'},
     ['Is there a hair drier in the image?', 'Is there a bench in the image?']),
    ({'tag': 'counting', 'include': [obj('bus', 3)], 'exclude': [obj('bus', 4)], 'prompt': 'a photo of three buses'},
     ['Is there a bus in the image?', 'Are there exactly three buses in the image?']),
    ({'tag': 'colors', 'include': [obj('car', color='pink')], 'prompt': 'a photo of a pink car'},
     ['Is there a car in the image?', 'Is the car pink?']),
    ({'tag': 'position', 'include': [obj('teddy bear'), obj('dog', position=['right of', 0])],
      'prompt': 'a photo of a dog right of a teddy bear'},
     ['Is there a teddy bear in the image?', 'Is there a dog in the image?',
      'Is the dog to the right of the teddy bear?']),
    ({'tag': 'color_attr', 'include': [obj('wine glass', color='purple'), obj('apple', color='black')],
      'prompt': 'a photo of a purple wine glass and a black apple'},
     ['Is there a wine glass in the image?', 'Is the wine glass purple?', 'Is there an apple in the image?',
      'Is the apple black?']),
]


@pytest.mark.parametrize('record, questions', GENEVAL, ids=[r['tag'] for r, _ in GENEVAL])
def test_geneval_questions_of_each_tag(record, questions):
    assert geneval_questions(record) == questions


def test_geneval_questions_beyond_the_official_shapes():
    """Counts without a cap, excludes that cap nothing, irregular plurals, relations between
    several objects."""
    record = {'tag': 'counting', 'prompt': 'p',
              'include': [obj('person', 2), obj('knife', 1), obj('mouse', 4, color='red'),
                          obj('sheep', 2, position=['above', 2])],
              'exclude': [obj('knife', 2), obj('cat', 1), obj('skis', 3)]}
    assert geneval_questions(record) == [
        'Is there a person in the image?', 'Are there at least two people in the image?',
        'Is there a knife in the image?', 'Is there exactly one knife in the image?',
        'Is there a mouse in the image?', 'Are there at least four mice in the image?', 'Are the mice red?',
        'Is there a sheep in the image?', 'Are there at least two sheep in the image?', 'Are the sheep above the mice?',
        'Is there no cat in the image?', 'Are there fewer than three skis in the image?']
    for position in (['behind', 0], ['left of', 5]):
        with pytest.raises(ValueError, match=r"GenEval prompt 'q': position .* is not"):
            geneval_questions({'prompt': 'q', 'include': [obj('cat'), obj('dog', position=position)]})


def write_lines(path, lines):
    path.write_text(''.join((line if isinstance(line, str) else json.dumps(line)) + '\n' for line in lines))
    return str(path)


def test_read_questions(tmp_path):
    path = write_lines(tmp_path / 'q.jsonl', [{'prompt': 'a cat', 'questions': ['Is there a cat?']}, '',
                                              {'prompt': 'two dogs', 'questions': ['Is there a dog?', 'Two?']}])
    assert read_questions(path) == {'a cat': ['Is there a cat?'], 'two dogs': ['Is there a dog?', 'Two?']}


@pytest.mark.parametrize('lines, match', [
    (['{"prompt": "a cat", "questions": ["Q?"]}', '{"prompt": "a dog",'], r'q.jsonl:2 is not JSON'),
    ([{'prompt': 'a cat'}], r'q.jsonl:1 needs "prompt" \(text\) and "questions" \(a list\)'),
    ([{'prompt': 'a cat', 'questions': 'Is there a cat?'}], r'q.jsonl:1 needs "prompt"'),
    ([['a cat', ['Q?']]], r'q.jsonl:1 needs "prompt"'),
    ([{'prompt': 'a cat', 'questions': []}], r"q.jsonl:1: prompt 'a cat' needs a non-empty list"),
    ([{'prompt': 'a cat', 'questions': ['Q?', ' ']}], r"q.jsonl:1: prompt 'a cat' needs a non-empty list"),
    ([{'prompt': 'a cat', 'questions': ['Q?', 3]}], r"q.jsonl:1: prompt 'a cat' needs a non-empty list"),
    ([{'prompt': 'a cat', 'questions': ['Q?']}, {'prompt': 'a cat', 'questions': ['R?']}],
     r"q.jsonl:2 repeats prompt 'a cat'"),
    (['', ' '], r'q.jsonl holds no prompts'),
])
def test_read_questions_refuses_bad_files(tmp_path, lines, match):
    with pytest.raises(ValueError, match=match):
        read_questions(write_lines(tmp_path / 'q.jsonl', lines))


def test_a_missing_questions_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'Soft-TIFA questions .*absent.jsonl'):
        read_questions(str(tmp_path / 'absent.jsonl'))


# -- scores with a stand-in backend -------------------------------------------------------------

class StandInVLM(nn.Module):
    """P(yes) of each question about image i is ``p_yes[question][i]``, P(no) ``0.9 - P(yes)``;
    image i is told by its first pixel, ``40 * i``. 'yes' takes 3/4 of P(yes), 'Yes' the rest."""

    def __init__(self, p_yes):
        super().__init__()
        self.p_yes, self.calls = p_yes, []

    def first_token_probs(self, images, texts, candidates):
        self.calls.append((images, texts, candidates))
        assert tuple(candidates) == ('yes', 'Yes', 'no', 'No')
        rows = []
        for image, text in zip(images, texts):
            yes = self.p_yes[text][int(image[0, 0, 0]) // 40]
            rows.append([0.75 * yes, 0.25 * yes, 0.5 * (0.9 - yes), 0.5 * (0.9 - yes)])
        return torch.tensor(rows, dtype=torch.float64)


QUESTIONS = {'a cat': ['Is there a cat?'], 'two dogs': ['Is there a dog?', 'Are there two dogs?'],
             'a red cup left of a bowl': ['Is there a cup?', 'Is the cup red?', 'Is there a bowl?',
                                          'Is the cup left of the bowl?']}
P_YES = {'Is there a cat?': [0.8, 0.3, 0.6], 'Is there a dog?': [0.9, 0.2, 0.05],
         'Are there two dogs?': [0.4, 0.7, 0.5],
         'Is there a cup?': [0.85, 0.1, 0.6], 'Is the cup red?': [0.3, 0.6, 0.02], 'Is there a bowl?': [0.7, 0.5, 0.8],
         'Is the cup left of the bowl?': [0.2, 0.9, 0.45]}


def images_numbered(n):
    """Constant images whose uint8 value is 40 * i."""
    return torch.arange(n).float().mul(40).div(127.5).sub(1).view(n, 1, 1, 1).expand(n, 3, 8, 8).contiguous()


def stand_in_tifa(tmp_path, **kwargs):
    path = write_lines(tmp_path / 'q.jsonl', [{'prompt': p, 'questions': q} for p, q in QUESTIONS.items()])
    p_yes = {q + SUFFIX: values for q, values in P_YES.items()}
    return REWARDS.build(dict(type='SoftTIFA', questions=path, backend=dict(type=StandInVLM, p_yes=p_yes), **kwargs))


def expected_scores(prompts):
    """AM, GM and hard per image, from the tables above."""
    am, gm, hard = [], [], []
    for i, prompt in enumerate(prompts):
        yes = [P_YES[q][i] for q in QUESTIONS[prompt]]
        am.append(statistics.fmean(yes))
        gm.append(statistics.geometric_mean(yes))
        hard.append(statistics.fmean(float(y > 0.9 - y) for y in yes))
    return {'soft_tifa': am, 'soft_tifa/gm': gm, 'soft_tifa/hard': hard}


def test_scores_equal_an_independent_computation_from_one_backend_call(tmp_path):
    tifa = stand_in_tifa(tmp_path)
    prompts = ['a red cup left of a bowl', 'a cat', 'two dogs']
    images = images_numbered(3)
    parts = tifa.components(images, prompts)
    assert set(parts) == {'soft_tifa', 'soft_tifa/gm', 'soft_tifa/hard'}
    for key, values in expected_scores(prompts).items():
        torch.testing.assert_close(parts[key], torch.tensor(values, dtype=torch.float32), msg=key)
        assert parts[key].dtype == torch.float32
    assert len(tifa.backend.calls) == 1  # every atom of the batch together
    pictures, texts, _ = tifa.backend.calls[0]
    assert texts == [q + SUFFIX for p in prompts for q in QUESTIONS[p]]
    assert [int(p[0, 0, 0]) for p in pictures] == [0] * 4 + [40] + [80] * 2
    torch.testing.assert_close(tifa(images, prompts), parts['soft_tifa'])

    tifa = stand_in_tifa(tmp_path, template='Q: {question} A: {"yes" or "no"}', name='tifa')
    tifa.backend.p_yes = {f'Q: {q} A: {{"yes" or "no"}}': values for q, values in P_YES.items()}
    assert set(tifa.components(images[:1], ['a cat'])) == {'tifa', 'tifa/gm', 'tifa/hard'}


def test_an_atom_at_zero_sinks_the_geometric_mean_only(tmp_path):
    tifa = stand_in_tifa(tmp_path)
    tifa.backend.p_yes = {q + SUFFIX: [0.0 if q == 'Is the cup red?' else 0.5] for q in P_YES}
    parts = tifa.components(images_numbered(1), ['a red cup left of a bowl'])
    assert parts['soft_tifa'].tolist() == [0.375] and parts['soft_tifa/gm'].tolist() == [0.0]
    assert parts['soft_tifa/hard'].tolist() == [0.75]


def test_bad_configs_and_unknown_prompts_are_refused(tmp_path):
    tifa = stand_in_tifa(tmp_path)
    with pytest.raises(ValueError, match=r"SoftTIFA has no questions for prompt 'a horse': .*q.jsonl lists 3 other"):
        tifa.components(images_numbered(2), ['a cat', 'a horse'])
    with pytest.raises(ValueError, match='2 images and 1 prompts'):
        tifa.components(images_numbered(2), ['a cat'])
    backend = dict(type=StandInVLM, p_yes={})
    for kwargs, match in [({}, 'exactly one of metadata='), (dict(metadata='m.jsonl', questions='q.jsonl'),
                                                              'exactly one of metadata='),
                          (dict(questions='q.jsonl', template='{prompt}?'), 'must hold {question}')]:
        with pytest.raises(ValueError, match=match):
            REWARDS.build(dict(type='SoftTIFA', backend=backend, **kwargs))


# -- the tiny random Qwen2.5-VL ---------------------------------------------------------------

def hand_scores(path, images, questions_per_image):
    """AM, GM and hard per image: each question alone, unpadded, softmax at the last position."""
    processor = transformers.AutoProcessor.from_pretrained(path)
    model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
    token = {w: processor.tokenizer.encode(w)[0] for w in ('yes', 'Yes', 'no', 'No')}
    am, gm, hard = [], [], []
    for image, questions in zip(uint8(images), questions_per_image):
        yes, said_yes = [], []
        for question in questions:
            chat = [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': question + SUFFIX}]}]
            text = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            with torch.no_grad():
                p = model(**processor(text=[text], images=[image], return_tensors='pt')).logits[0, -1].softmax(-1)
            yes.append(float(p[token['yes']] + p[token['Yes']]))
            said_yes.append(float(yes[-1] > p[token['no']] + p[token['No']]))
        am.append(statistics.fmean(yes))
        gm.append(statistics.geometric_mean(yes))
        hard.append(statistics.fmean(said_yes))
    return {'soft_tifa': am, 'soft_tifa/gm': gm, 'soft_tifa/hard': hard}


@pytest.fixture(scope='module')
def yes_vlm_dir(vlm_dir, tmp_path_factory):
    """The tiny VLM with 'yes' and 'no' made likely (random weights give them ~1e-7): their
    output rows scaled up, 'yes' near 'no', every row then shrunk."""
    path = tmp_path_factory.mktemp('qwen2_5_vl_yes')
    model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(vlm_dir, dtype=torch.float32)
    processor = transformers.AutoProcessor.from_pretrained(vlm_dir)
    yes, no = (processor.tokenizer.encode(w)[0] for w in ('yes', 'no'))
    torch.manual_seed(1)
    with torch.no_grad():
        weight = model.lm_head.weight
        weight[no] *= 20
        weight[yes] = weight[no] + torch.randn_like(weight[no])
        weight *= 0.1
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


@pytest.fixture(scope='module')
def geneval_file(tmp_path_factory):
    return write_lines(tmp_path_factory.mktemp('geneval') / 'evaluation_metadata.jsonl', [r for r, _ in GENEVAL])


def test_the_tiny_vlm_through_the_reward_and_through_the_config_metric(yes_vlm_dir, geneval_file):
    cfg = Config.fromfile(CONFIG)
    assert cfg.test_dataloader.dataset.type == 'GenEvalPromptDataset'
    (metric_cfg,) = cfg.test_evaluator
    metric_cfg.reward.metadata = geneval_file
    metric_cfg.reward.backend.update(path=yes_vlm_dir, dtype='float32', batch_size=3)

    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 40, 56, generator=g) * 2 - 1
    records = [GENEVAL[4][0], GENEVAL[0][0], GENEVAL[2][0], GENEVAL[5][0]]
    prompts = [r['prompt'] for r in records]
    expected = hand_scores(yes_vlm_dir, images, [questions for r in records for rr, questions in GENEVAL if rr is r])

    tifa = REWARDS.build(metric_cfg.reward)
    parts = tifa.components(images, prompts)
    for key, values in expected.items():
        torch.testing.assert_close(parts[key], torch.tensor(values), atol=0, rtol=1e-4, msg=key)
    assert parts['soft_tifa'].std() > 0.005 and ((parts['soft_tifa'] > 0.1) & (parts['soft_tifa'] < 0.9)).all()

    metric = METRICS.build(metric_cfg)
    metric.process(None, [dict(image=image, prompt=prompt) for image, prompt in zip(images[:3], prompts[:3])])
    metric.process(None, [dict(image=images[3], prompt=prompts[3])])
    result = metric.evaluate(4)
    for key, values in expected.items():
        assert result[f'soft_tifa/{key}_mean'] == pytest.approx(statistics.fmean(values), rel=1e-4, abs=0)
        assert result[f'soft_tifa/{key}_std'] == pytest.approx(statistics.pstdev(values), rel=1e-3, abs=0)
