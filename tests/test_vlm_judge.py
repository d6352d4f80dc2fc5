"""The VLM judge: a tiny random Qwen2.5-VL saved with save_pretrained and read back offline
(logprob scores against a hand computation from its logits, generated answers parsed), and the
OpenAI-compatible backend against a stub server started here (canned answers, slow, malformed
and failing replies, an unreachable port)."""
import base64
import io
import math
import os
import os.path as osp
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
import requests
import torch
import transformers

from http_servers import canned_server, trickling_server

from argrpo.registry import REWARDS, VLM_BACKENDS
from argrpo.rewards.vlm_backends import LogprobsUnavailable, VLMServerError
from argrpo.rewards.vlm_judge import parse_score, parse_yes_no

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|vision_start|>', '<|vision_end|>', '<|image_pad|>',
           '<|video_pad|>']
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
QUALITY = dict(name='quality', prompt='Rate the image for {prompt} from 0 to 5.', max_score=5, scale=0.25,
               weight=2.0)
NOT_AI = dict(name='not_ai', prompt='Is the image of {prompt} AI-generated? Answer yes or no.', answer='no')
IS_REAL = dict(name='real', prompt='Is it a real photo? Answer yes or no.', answer='yes', weight=0.5)


def byte_level_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE like Qwen's, trained here on a few lines: 'yes', 'No', digits are tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ['yes\nno\nYes\nNo\ncat\n', 'Rate the image for a cat from 0 to 5.', 'Is it a real photo? Answer yes or no.',
              '{"total": 3}', 'Is the image of a dog AI-generated?']
    tok.train_from_iterator(corpus * 50, trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='<|endoftext|>',
                                                eos_token='<|im_end|>')


@pytest.fixture(scope='module')
def vlm_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp('qwen2_5_vl')
    tokenizer = byte_level_tokenizer()
    image_processor = transformers.Qwen2VLImageProcessor(size={'shortest_edge': 28 * 28, 'longest_edge': 56 * 56})
    transformers.Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                     video_processor=transformers.Qwen2VLVideoProcessor(),
                                     chat_template=CHAT_TEMPLATE).save_pretrained(path)
    token = tokenizer.convert_tokens_to_ids
    config = transformers.Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, eos_token_id=token('<|im_end|>'),
                         pad_token_id=token('<|endoftext|>'), bos_token_id=None,
                         rope_parameters=dict(rope_type='default', rope_theta=10000.0, mrope_section=[2, 3, 3])),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           fullatt_block_indexes=[1], window_size=56),
        image_token_id=token('<|image_pad|>'), video_token_id=token('<|video_pad|>'),
        vision_start_token_id=token('<|vision_start|>'), vision_end_token_id=token('<|vision_end|>'))
    torch.manual_seed(0)
    model = transformers.Qwen2_5_VLForConditionalGeneration(config)
    with torch.no_grad():  # peaked answer distributions, so that scores differ between samples
        model.lm_head.weight.normal_(0, 1)
    model.save_pretrained(path)
    return str(path)


def images_and_prompts(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 40, 56, generator=g) * 2 - 1, ['a cat', 'a dog on the grass', 'red'][:n]


def uint8(images):
    return (images.add(1).mul(127.5)).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def judge_on(path, **kwargs):
    kwargs.setdefault('questions', [QUALITY, NOT_AI, IS_REAL])
    backend = dict(type='TransformersVLM', path=path, dtype='float32', batch_size=2)
    return REWARDS.build(dict(type='VLMJudge', backend=backend, **kwargs))


def test_logprob_scores_equal_a_hand_computation_from_the_logits(vlm_dir):
    judge = judge_on(vlm_dir)
    assert isinstance(judge.backend.model, transformers.Qwen2_5_VLForConditionalGeneration)
    assert not any(p.requires_grad for p in judge.parameters()) and not judge.backend.model.training
    images, prompts = images_and_prompts()
    parts = judge.components(images, prompts)
    assert set(parts) == {'vlm_judge/quality', 'vlm_judge/not_ai', 'vlm_judge/real', 'vlm_judge/unreadable'}
    assert all(v.shape == (3,) and v.dtype == torch.float32 for v in parts.values())

    # independent: each question alone, unpadded, softmax of the logits at the last position
    processor = transformers.AutoProcessor.from_pretrained(vlm_dir)
    model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(vlm_dir, dtype=torch.float32).eval()
    token = {w: processor.tokenizer.encode(w)[0] for w in ['yes', 'Yes', 'no', 'No', '0', '1', '2', '3', '4', '5']}
    assert len(set(token.values())) == len(token)

    def probs(image, question):
        chat = [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': question}]}]
        text = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        assert text.endswith('<|im_start|>assistant\n')
        with torch.no_grad():
            logits = model(**processor(text=[text], images=[image], return_tensors='pt')).logits[0, -1]
        return logits.softmax(-1)

    expected = {'quality': [], 'not_ai': [], 'real': []}
    for image, prompt in zip(uint8(images), prompts):
        p = probs(image, f'Rate the image for {prompt} from 0 to 5.')
        digits = torch.stack([p[token[str(d)]] for d in range(6)])
        expected['quality'].append(0.25 * (digits * torch.arange(6)).sum() / digits.sum())
        p = probs(image, f'Is the image of {prompt} AI-generated? Answer yes or no.')
        yes, no = p[token['yes']] + p[token['Yes']], p[token['no']] + p[token['No']]
        expected['not_ai'].append(no / (yes + no))
        p = probs(image, 'Is it a real photo? Answer yes or no.')
        yes, no = p[token['yes']] + p[token['Yes']], p[token['no']] + p[token['No']]
        expected['real'].append(yes / (yes + no))
    for name, values in expected.items():
        torch.testing.assert_close(parts[f'vlm_judge/{name}'], torch.stack(values), atol=1e-5, rtol=1e-5)
    assert parts['vlm_judge/quality'].std() > 1e-3 and parts['vlm_judge/not_ai'].std() > 1e-3
    assert ((parts['vlm_judge/quality'] >= 0) & (parts['vlm_judge/quality'] <= 1.25)).all()
    assert torch.equal(parts['vlm_judge/unreadable'], torch.zeros(3))
    torch.testing.assert_close(judge(images, prompts), 2.0 * parts['vlm_judge/quality'] + parts['vlm_judge/not_ai']
                               + 0.5 * parts['vlm_judge/real'])


def allow_only(judge, *texts):
    """Let the tiny model generate nothing but these tokens (its generation_config applies)."""
    tokenizer = judge.backend.processor.tokenizer
    allowed = {tokenizer.encode(t)[0] for t in texts}
    judge.backend.model.generation_config.suppress_tokens = [i for i in range(len(tokenizer)) if i not in allowed]


def test_generate_mode_parses_answers_and_counts_unreadable_ones(vlm_dir):
    judge = judge_on(vlm_dir, mode='generate', max_new_tokens=1, unreadable_score=-1.0, questions=[QUALITY, NOT_AI])
    images, prompts = images_and_prompts()
    torch.manual_seed(0)
    allow_only(judge, '3')
    parts = judge.components(images, prompts)
    assert parts['vlm_judge/quality'].tolist() == [0.75] * 3  # '3' read, times 0.25
    assert parts['vlm_judge/not_ai'].tolist() == [-1.0] * 3  # '3' is no yes / no answer
    assert parts['vlm_judge/unreadable'].tolist() == [0.5] * 3
    allow_only(judge, 'No')
    parts = judge.components(images, prompts)
    assert parts['vlm_judge/quality'].tolist() == [-1.0] * 3 and parts['vlm_judge/not_ai'].tolist() == [1.0] * 3

    judge = judge_on(vlm_dir, mode='generate', max_new_tokens=6, temperature=1.0, questions=[QUALITY, NOT_AI])
    allow_only(judge, 'cat', ' ', '!', '<|im_end|>')  # random weights: sampled babble
    answers = judge.backend.generate(list(uint8(images)), ['Rate it.'] * 3, max_new_tokens=6, temperature=1.0)
    assert len(answers) == 3 and all(set(a) <= set('cat !') for a in answers)
    greedy = []
    for seed in (1, 2):  # greedy answers do not depend on the seed
        torch.manual_seed(seed)
        greedy.append(judge.backend.generate(list(uint8(images)), ['Rate it.'] * 3, 6, temperature=0.0))
    assert greedy[0] == greedy[1] and all(set(a) <= set('cat !') for a in greedy[0])
    parts = judge.components(images, prompts)
    assert parts['vlm_judge/unreadable'].tolist() == [1.0] * 3
    assert parts['vlm_judge/quality'].tolist() == [0.0] * 3 and parts['vlm_judge/not_ai'].tolist() == [0.0] * 3
    assert judge(images, prompts).tolist() == [0.0] * 3


def test_a_missing_directory_names_the_path_and_how_to_get_the_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'absent_qwen.*huggingface-cli download Qwen/Qwen2.5-VL'):
        judge_on(str(tmp_path / 'absent_qwen'))


@pytest.mark.parametrize('text, expected', [
    ('{"total": 4}', 4.0),
    ('```json\n{"total": 3, "realism": 1}\n```', 3.0),
    ('Here is my rating: {"Total": 5}. Hope it helps.', 5.0),
    ('```json\n{"realism": 1, "aesthetics": 1, "match": 0, "detail": 1, "artifacts": 0}\n```', 3.0),
    ('{"total": "2.5"} and then {"total": 1}', 2.5),
    ('{"total": 4', 4.0),
    ('{"realism": 1, "match": ', None),
    ('{"total": 7}', None),
    ('4', 4.0),
    ('Score: 3/5', 3.0),
    ('-1', None),
    ('The image is lovely.', None),
    ('', None),
])
def test_parse_score(text, expected):
    assert parse_score(text, max_score=5) == expected


@pytest.mark.parametrize('text, expected', [
    ('yes', 'yes'), ('Yes.', 'yes'), ('YES', 'yes'), ('no,', 'no'), ('No, it looks real.', 'no'),
    ('**No**', 'no'), ('The answer is yes.', 'yes'), ('Not sure', None), ('nope', None),
    ('Maybe yes, maybe no', None), ('', None),
])
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected


def test_bad_configs_are_refused():
    backend = dict(type='OpenAIVLM', base_url='http://127.0.0.1:1/v1', model='m')
    for questions, mode, match in [([dict(QUALITY, colour='red')], 'logprob', 'colour'),
                                   ([dict(NOT_AI, answer='maybe')], 'logprob', "'maybe'"),
                                   ([dict(QUALITY, max_score=10)], 'logprob', 'at most 9'),
                                   ([QUALITY, QUALITY], 'logprob', 'unique'),
                                   ([QUALITY], 'vote', 'mode')]:
        with pytest.raises(ValueError, match=match):
            REWARDS.build(dict(type='VLMJudge', backend=backend, questions=questions, mode=mode))


# -- the OpenAI-compatible backend against a stub server ---------------------------------------

@pytest.fixture(scope='module')
def server():
    """A chat-completions stub: ``state['reply'](payload, call)`` answers the call-th request
    (counted from 1) with a Flask response or a JSON-able dict; stopped for good at the end."""
    with canned_server('/v1/chat/completions') as (state, reset):
        yield state, lambda reply: reset(reply) + '/v1'


def question_of(payload):
    return payload['messages'][0]['content'][1]['text']


def completion(content):
    return {'choices': [{'message': {'role': 'assistant', 'content': content}}]}


def top_logprobs(probs):
    top = [{'token': t, 'logprob': math.log(p)} for t, p in probs.items()]
    return {'choices': [{'message': {'content': top[0]['token']}, 'logprobs': {'content': [
        {'token': top[0]['token'], 'logprob': top[0]['logprob'], 'top_logprobs': top}]}}]}


def openai_judge(url, **kwargs):
    backend = dict(type='OpenAIVLM', base_url=url, model='qwen-stub', timeout=5, backoff=0.01)
    return REWARDS.build(dict(type='VLMJudge', backend=backend, questions=[QUALITY, NOT_AI], **kwargs))


def test_openai_backend_generate_mode_scores_canned_answers(server):
    state, reset = server
    answers = {'a cat': ('```json\n{"total": 4}\n```', 'No.'),
               'a dog on the grass': ('The image deserves {"total": 2} overall.', 'Yes, clearly.'),
               'red': ('I cannot tell.', 'no')}

    def reply(payload, call):
        text = question_of(payload)
        prompt = next(p for p in answers if f' {p} ' in text)
        return completion(answers[prompt][0 if text.startswith('Rate') else 1])

    judge = openai_judge(reset(reply), mode='generate', temperature=0.7, max_new_tokens=50, unreadable_score=-1.0)
    images, prompts = images_and_prompts()
    parts = judge.components(images, prompts)
    assert parts['vlm_judge/quality'].tolist() == [1.0, 0.5, -1.0]
    assert parts['vlm_judge/not_ai'].tolist() == [1.0, 0.0, 1.0]
    assert parts['vlm_judge/unreadable'].tolist() == [0.0, 0.0, 0.5]
    assert state['calls'] == 6
    payload = next(p for p in state['payloads'] if question_of(p) == 'Rate the image for a dog on the grass from 0 to 5.')
    assert payload['model'] == 'qwen-stub' and payload['max_tokens'] == 50 and payload['temperature'] == 0.7
    url = payload['messages'][0]['content'][0]['image_url']['url']
    assert url.startswith('data:image/png;base64,')
    from PIL import Image
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(',', 1)[1]))))
    assert np.array_equal(sent, uint8(images)[1])


def test_openai_backend_logprob_mode_reads_top_logprobs(server):
    state, reset = server

    def reply(payload, call):
        assert payload['logprobs'] is True and payload['top_logprobs'] == 20 and payload['max_tokens'] == 1
        if ' red ' in question_of(payload):
            return top_logprobs({'Maybe': 0.9, 'I': 0.1})  # no possible answer listed
        if question_of(payload).startswith('Rate'):
            return top_logprobs({'3': 0.5, '4': 0.3, '**': 0.1, '7': 0.05})
        return top_logprobs({'No': 0.6, 'yes': 0.2, ' no': 0.1, 'Maybe': 0.05})

    judge = openai_judge(reset(reply), unreadable_score=-1.0)
    images, prompts = images_and_prompts()
    parts = judge.components(images, prompts)
    torch.testing.assert_close(parts['vlm_judge/quality'], torch.tensor([0.25 * 2.7 / 0.8] * 2 + [-1.0]))
    torch.testing.assert_close(parts['vlm_judge/not_ai'], torch.tensor([0.7 / 0.9] * 2 + [-1.0]))
    assert parts['vlm_judge/unreadable'].tolist() == [0.0, 0.0, 1.0]


def stub_backend(url, **kwargs):
    kwargs = dict(dict(type='OpenAIVLM', base_url=url, model='m', timeout=5, max_retries=2, backoff=0.01), **kwargs)
    return VLM_BACKENDS.build(kwargs)


ONE_IMAGE = [np.zeros((8, 8, 3), dtype=np.uint8)]


def test_openai_backend_retries_a_slow_answer_then_names_the_url(server):
    state, reset = server

    def slow_once(payload, call):
        time.sleep(1.5 if call == 1 else 0)
        return completion('yes')

    assert stub_backend(reset(slow_once), timeout=0.5).generate(ONE_IMAGE, ['q']) == ['yes']
    assert state['calls'] == 2

    def always_slow(payload, call):
        time.sleep(0.3)
        return completion('yes')

    url = reset(always_slow)
    with pytest.raises(VLMServerError, match=f'{url}/chat/completions.*3 attempts.*DeadlineExceeded'):
        stub_backend(url, timeout=0.1).generate(ONE_IMAGE, ['q'])


@pytest.mark.parametrize('failure', ['not json', '{"choices": []}', 500, 429])
def test_openai_backend_retries_failures_a_bounded_number_of_times(server, failure):
    state, reset = server

    def fail(payload, call):
        if isinstance(failure, int):
            return 'overloaded', failure
        return failure, 200, {'Content-Type': 'application/json'}

    url = reset(lambda payload, call: fail(payload, call) if call <= 2 else completion('no'))
    assert stub_backend(url).generate(ONE_IMAGE, ['q']) == ['no'] and state['calls'] == 3
    url = reset(fail)
    with pytest.raises(VLMServerError, match=f'{url}/chat/completions: no valid answer after 3 attempts'):
        stub_backend(url).generate(ONE_IMAGE, ['q'])
    assert state['calls'] == 3


def test_openai_backend_fails_at_once_on_a_client_error(server):
    state, reset = server
    url = reset(lambda payload, call: ('model "m" does not exist', 404))
    with pytest.raises(VLMServerError, match=r'HTTP 404.*model "m" does not exist'):
        stub_backend(url).first_token_probs(ONE_IMAGE, ['q'], ['yes', 'no'])
    assert state['calls'] == 1


def test_openai_backend_names_an_unreachable_url_quickly():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(VLMServerError, match=f'http://127.0.0.1:{port}/v1/chat/completions.*ConnectionError'):
        stub_backend(f'http://127.0.0.1:{port}/v1', timeout=0.5).generate(ONE_IMAGE, ['q'])
    assert time.perf_counter() - start < 3


def raw_json(text):
    return text, 200, {'Content-Type': 'application/json'}


@pytest.mark.parametrize('entry, match', [
    ('{"token": "yes", "logprob": 1000}', 'logprob 1000 of token .yes. is not a log-probability in \\(-inf, 0\\]'),
    ('{"token": "yes", "logprob": 0.5}', 'logprob 0.5 of token'),
    ('{"token": "yes", "logprob": NaN}', 'NaN is not JSON'),
    ('{"token": "yes", "logprob": "-1"}', "logprob '-1' of token"),
    ('{"token": "yes", "logprob": true}', 'logprob True of token'),
    ('{"token": null, "logprob": -0.1}', 'not {"token": text, "logprob": number}'),
    ('7', 'not {"token": text, "logprob": number}'),
])
def test_openai_backend_refuses_malformed_logprobs_naming_the_url(server, entry, match):
    state, reset = server
    text = ('{"choices": [{"message": {"content": "yes"}, "logprobs": {"content": [{"token": "yes", '
            f'"logprob": -0.1, "top_logprobs": [{{"token": "no", "logprob": -3.0}}, {entry}]}}]}}}}]}}')
    url = reset(lambda payload, call: raw_json(text))
    with pytest.raises(VLMServerError, match=f'{url}/chat/completions: no valid answer after 3 attempts; '
                                             f'last: malformed reply .*{match}'):
        stub_backend(url).first_token_probs(ONE_IMAGE, ['q'], ['yes', 'no'])
    assert state['calls'] == 3


@pytest.mark.parametrize('choice', [
    {'message': {'content': 'yes'}},  # transformers serve: the fields dropped
    {'message': {'content': 'yes'}, 'logprobs': None},
    {'message': {'content': 'yes'}, 'logprobs': {'content': []}},
    {'message': {'content': 'yes'}, 'logprobs': {'content': [{'token': 'yes', 'logprob': -0.1, 'top_logprobs': []}]}},
])
def test_logprob_mode_against_a_server_without_logprobs_says_which_servers_have_them(server, choice):
    state, reset = server
    url = reset(lambda payload, call: {'choices': [choice]})
    judge = openai_judge(url)
    with pytest.raises(LogprobsUnavailable) as error:
        judge.components(*images_and_prompts(n=1))
    message = str(error.value)
    for needed in (f'{url}/chat/completions answered without logprobs', 'vLLM', 'SGLang', 'transformers serve',
                   "mode='generate'"):
        assert needed in message, (needed, message)
    assert state['calls'] <= 2  # not retried (two questions, in flight together)


def test_openai_backend_honours_retry_after_and_a_total_deadline(server, monkeypatch):
    state, reset = server
    url = reset(lambda payload, call: completion('yes') if call > 1 else ('slow down', 429, {'Retry-After': '0.6'}))
    start = time.monotonic()
    assert stub_backend(url).generate(ONE_IMAGE, ['q']) == ['yes']
    assert state['calls'] == 2 and time.monotonic() - start >= 0.6
    url = reset(lambda payload, call: ('slow down', 429, {'Retry-After': '600'}))
    with pytest.raises(VLMServerError, match=r'after 1 attempts; last: HTTP 429: slow down; the next attempt '
                                             r'\(in 600 s\) would pass the deadline of 300 s'):
        stub_backend(url).generate(ONE_IMAGE, ['q'])
    body = b'{"choices": [{"message": {"content": "yes"}}]}'
    with trickling_server(body, pause=0.1) as url:
        start = time.monotonic()
        with pytest.raises(VLMServerError,
                           match='after 1 attempts.*DeadlineExceeded: no complete reply .* within 0.5 s'):
            stub_backend(url + '/v1', timeout=0.5, max_retries=0).generate(ONE_IMAGE, ['q'])
        assert time.monotonic() - start < 1.5


def test_openai_backend_api_key_from_the_environment(server, monkeypatch):
    state, reset = server
    url = reset(lambda payload, call: completion('yes'))
    monkeypatch.delenv('ARGRPO_VLM_API_KEY', raising=False)
    stub_backend(url).generate(ONE_IMAGE, ['q'])
    assert 'Authorization' not in state['headers'][-1]
    monkeypatch.setenv('ARGRPO_VLM_API_KEY', 'vlm-key')
    stub_backend(url).generate(ONE_IMAGE, ['q'])
    assert state['headers'][-1]['Authorization'] == 'Bearer vlm-key'
    # a key in the config would be in its dump, the log and every checkpoint: refused, the
    # variable to set named, the key not repeated
    for env, name in ((None, 'ARGRPO_VLM_API_KEY'), ('MY_VLM_KEY', 'MY_VLM_KEY')):
        with pytest.raises(ValueError, match=r"OpenAIVLM\(api_key=\.\.\.\) is refused: an API key in a config is "
                                             r"written into the work dir's config dump, the log and every "
                                             rf"checkpoint's meta. Set the environment variable \${name} ") as error:
            stub_backend(url, api_key='given-9c1e', **({} if env is None else dict(api_key_env=env)))
        assert 'given-9c1e' not in str(error.value)
    assert state['calls'] == 2
    monkeypatch.setenv('ARGRPO_VLM_API_KEY', 'k\u00e9y')
    with pytest.raises(ValueError, match=r'\$ARGRPO_VLM_API_KEY must be a non-empty string of printable ASCII'):
        stub_backend(url)


# -- the judge against a server no one here wrote: transformers' own `transformers serve` ------

@pytest.fixture(scope='module')
def transformers_server(vlm_dir, tmp_path_factory):
    """``transformers serve`` (FastAPI + Uvicorn: requirements/tests.txt installs them)
    serving the tiny random Qwen2.5-VL on 127.0.0.1, offline, stopped at the end."""
    pytest.importorskip('fastapi')
    pytest.importorskip('uvicorn')
    cli = shutil.which('transformers')
    if cli is None:
        pytest.skip('no `transformers` command')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp('serve') / 'serve.log'
    env = dict(os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    with open(log, 'w') as out:
        proc = subprocess.Popen([cli, 'serve', vlm_dir, '--host', '127.0.0.1', '--port', str(port), '--device', 'cpu'],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f'transformers serve did not come up:\n{log.read_text()[-3000:]}')
            try:
                if requests.get(f'{url}/health', timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        yield url + '/v1', log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


@pytest.mark.slow
def test_the_paper_judges_through_transformers_serve(transformers_server, vlm_dir):
    """configs/reward_services/qwen2.5-vl-3b_judges_vllm.py with its URL and model changed:
    generate mode scores through the real server (the random model's answers are mostly
    unreadable, counted as such); logprob mode is refused with what to change, since that
    server drops the logprobs it is asked for."""
    from mmengine.config import Config
    url, log = transformers_server
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'reward_services', 'qwen2.5-vl-3b_judges_vllm.py')).reward
    cfg.backend.update(base_url=url, model=vlm_dir, timeout=60, max_retries=0)
    cfg.update(max_new_tokens=12, unreadable_score=-1.0)
    judge = REWARDS.build(cfg)
    images, prompts = images_and_prompts(n=2)
    parts = judge.components(images, prompts)
    assert set(parts) == {'vlm/quality', 'vlm/not_ai_generated', 'vlm/no_strange_feature', 'vlm/unreadable'}
    for name, value in parts.items():
        assert value.shape == (2,) and torch.isfinite(value).all(), name
    unreadable = parts['vlm/unreadable']
    assert ((unreadable * 3).round() == unreadable * 3).all()  # a fraction of the 3 questions
    for name, high in (('vlm/quality', 1.25), ('vlm/not_ai_generated', 1.0), ('vlm/no_strange_feature', 1.0)):
        assert ((parts[name] == -1.0) | ((parts[name] >= 0) & (parts[name] <= high))).all(), name
    assert log.read_text().count('POST /v1/chat/completions HTTP/1.1" 200') >= 6  # 3 questions x 2 images
    judge = REWARDS.build(dict(cfg, mode='logprob'))
    with pytest.raises(LogprobsUnavailable) as error:
        judge.components(images, prompts)
    message = str(error.value)
    for needed in (f'{url}/chat/completions answered without logprobs', 'vLLM (`vllm serve`) and SGLang return them',
                   '`transformers serve`', "mode='generate'"):
        assert needed in message, (needed, message)
