"""The reward service as users run it: tools/reward_server.py in its own process and RemoteReward
scoring through it exactly as the local reward does, across a restart; the server's answers to
bad, hostile and oversized requests, tokens, failing rewards and concurrent clients (in-process
waitress servers where no subprocess is needed); RemoteReward against servers that misbehave
(trickled, malformed, NaN, 429 replies). Everything on 127.0.0.1."""
import base64
import contextlib
import importlib.util
import io
import json
import os.path as osp
import socket
import sys
import threading
import time
import tracemalloc
import warnings
from typing import Any, Tuple

import numpy as np
import pytest
import requests
import torch
from http_servers import ToolServer, canned_server, trickling_server
from mmengine.config import Config
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from argrpo.registry import REWARDS
from argrpo.rewards import BaseReward, GradientReward, RemoteReward
from argrpo.services import BackgroundServer, create_app, reward_config, reward_server, serve
from argrpo.utils import quantize, to_uint8
from argrpo.utils.http import DeadlineExceeded, DeadlineSession, strict_json

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WEIGHTED = dict(type='WeightedSum', rewards=[
    dict(type='GradientReward', weight=1.0),
    dict(type='GradientReward', weights=(0.0, 1.0, 0.0), name='green', weight=-0.5)])
PROMPTS = ['a red ramp', 'a green field', 'a blue sky', 'noise']
TOOL_TOKEN = 'tool-token'  # the subprocess reads it from ARGRPO_REWARD_TOKEN, RemoteReward too


@pytest.fixture(autouse=True)
def no_token_in_the_environment(monkeypatch):
    """RemoteReward reads $ARGRPO_REWARD_TOKEN: each test sets it when it wants one."""
    monkeypatch.delenv('ARGRPO_REWARD_TOKEN', raising=False)


def float_images(seed: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 16, 12, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def uint8_images(seed: int, n: int = 4) -> torch.Tensor:
    """Images a saved sample can hold exactly (``v / 127.5 - 1`` for uint8 ``v``)."""
    return torch.randint(0, 256, (n, 3, 16, 12), generator=torch.Generator().manual_seed(seed)) / 127.5 - 1


def score_body(images: torch.Tensor, prompts) -> dict:
    """A well-formed /score body with uint8 images, written independently of RemoteReward."""
    array = to_uint8(images)
    return dict(prompts=list(prompts), images=dict(shape=list(array.shape), dtype='uint8',
                                                   data=base64.b64encode(array.tobytes()).decode()))


def float_body(array: np.ndarray, prompts) -> dict:
    """A /score body with float32 images ``[N, 3, H, W]`` as they are (NaN and inf included)."""
    array = np.asarray(array, dtype='<f4')
    return dict(prompts=list(prompts), images=dict(shape=list(array.shape), dtype='float32',
                                                   data=base64.b64encode(array.tobytes()).decode()))


def assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key


@contextlib.contextmanager
def served(reward: BaseReward, **kwargs):
    """``create_app(reward, **kwargs)`` under waitress in this process, on a free port; yields
    its URL, and stops it (loop, sockets, workers) on leaving."""
    with BackgroundServer(create_app(reward, **kwargs)) as server:
        yield server.url


@pytest.fixture(scope='module')
def tool_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('reward_server')
    config = tmp / 'reward.py'
    config.write_text(f'reward = {WEIGHTED!r}\n')
    server = ToolServer(str(config), str(tmp / 'server.log'), token=TOOL_TOKEN)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_served_reward_equals_the_local_one(tool_server, monkeypatch):
    monkeypatch.setenv('ARGRPO_REWARD_TOKEN', TOOL_TOKEN)
    local = REWARDS.build(WEIGHTED)
    log = open(tool_server.log).read()
    assert f'ready at {tool_server.url}' in log and '1 * gradient + -0.5 * green' in log
    for encoding, images in (('float32', float_images(0)), ('uint8', uint8_images(1))):
        remote = RemoteReward(tool_server.url, encoding=encoding)
        want = local.components(images, PROMPTS)
        got = remote.components(images, PROMPTS)
        assert_same(got, dict(want, remote=local.combine(want)))
        assert torch.equal(remote(images, PROMPTS), local(images, PROMPTS))
    # uint8 sends what a saved image holds: the reward scores the quantised images
    images = float_images(2)
    got = RemoteReward(tool_server.url, encoding='uint8')(images, PROMPTS)
    torch.testing.assert_close(got, local(quantize(images), PROMPTS))
    assert not torch.allclose(got, local(images, PROMPTS), rtol=0, atol=1e-6)
    # inside a WeightedSum the served reward counts once, and each served component is logged
    outer = REWARDS.build(dict(type='WeightedSum', rewards=[
        dict(type='RemoteReward', url=tool_server.url, encoding='float32', weight=2.0)]))
    components = outer.components(images, PROMPTS)
    assert set(components) == {'gradient', 'green', 'remote'}
    assert torch.equal(outer.combine(components), 2 * local(images, PROMPTS))
    with pytest.raises(RuntimeError, match=r'\(401\): missing or wrong token'):
        RemoteReward(tool_server.url, token_env=None)(images, PROMPTS)
    # the server's limits, in its health answer
    limits = requests.get(f'{tool_server.url}/health', timeout=10).json()['limits']
    assert limits == dict(max_body=256 * 2 ** 20, max_pixels=2 ** 26, max_batch=None)


def test_stopped_server_is_a_clear_error_and_a_restarted_one_serves_again(tool_server, monkeypatch):
    monkeypatch.setenv('ARGRPO_REWARD_TOKEN', TOOL_TOKEN)
    local = REWARDS.build(WEIGHTED)
    images = float_images(3)
    remote = RemoteReward(tool_server.url, timeout=5, max_retries=2, backoff=0.05, encoding='float32')
    assert torch.equal(remote(images, PROMPTS), local(images, PROMPTS))
    tool_server.stop()
    with pytest.raises(RuntimeError) as error:
        remote(images, PROMPTS)
    message = str(error.value)
    assert tool_server.url in message and '3 tries' in message
    assert f'python tools/reward_server.py CONFIG --port {tool_server.port}' in message
    tool_server.start()
    assert torch.equal(remote(images, PROMPTS), local(images, PROMPTS))


def test_bad_requests_get_400_and_the_server_goes_on():
    reward = REWARDS.build(WEIGHTED)
    images = uint8_images(4, n=3)
    good = score_body(images, PROMPTS[:3])
    encoded = good['images']
    nan_images = float_images(4, n=3).numpy()
    nan_images[1, 2, 3, 4], nan_images[2, 0, 0, 0] = np.nan, -np.inf
    cases = [
        (dict(data='{"prompts": ['), 'must be a JSON object'),
        (dict(json=[1, 2]), 'must be a JSON object'),
        (dict(json=dict(images=encoded)), 'no prompts'),
        (dict(json=dict(prompts=PROMPTS[:3])), 'no images'),
        (dict(json=dict(good, prompts=PROMPTS[:2])), '2 prompts for 3 images'),
        (dict(json=dict(good, prompts=[1, 2, 3])), 'list of strings'),
        (dict(json=dict(good, images='abc')), '"shape", "dtype" and "data"'),
        (dict(json=dict(good, images=dict(encoded, dtype='float64'))), 'images.dtype'),
        (dict(json=dict(good, images=dict(encoded, shape=[3, 16, 12]))), 'images.shape'),
        (dict(json=dict(good, images=dict(encoded, shape=[3, 3, 16, 12]))), '[N, H, W, 3]'),
        (dict(json=dict(good, images=dict(encoded, dtype='float32'))), '[N, 3, H, W]'),
        (dict(json=dict(good, images=dict(encoded, data=encoded['data'][:-8]))), 'bytes'),
        (dict(json=dict(good, images=dict(encoded, data='*' + encoded['data'][1:]))), 'not base64'),
        # what the probes of issue 23 answered 500 to, or scored
        (dict(data='[' * 50_000 + ']' * 50_000), 'nested too deep'),
        (dict(json=dict(good, images=dict(encoded, dtype=['uint8']))), 'images.dtype'),
        (dict(json=dict(good, images=dict(encoded, dtype={'uint8': 1}))), 'images.dtype'),
        (dict(json=dict(good, images=dict(encoded, shape=[3, 16, 12, True]))), 'images.shape'),
        (dict(json=dict(good, prompts=None)), 'list of strings'),
        (dict(data=b'\xff\xfe{"prompts": []}'), 'must be a JSON object'),
        (dict(data=json.dumps(good).replace('"prompts"', '"x": NaN, "prompts"')), 'NaN is not JSON'),
        (dict(json=float_body(nan_images, PROMPTS[:3])), '2 non-finite values'),
        (dict(json=float_body(np.full((3, 3, 2, 2), np.inf), PROMPTS[:3])), '36 non-finite values'),
    ]
    with served(reward) as url:
        for request, expected in cases:
            answer = requests.post(f'{url}/score', timeout=10, **request)
            assert answer.status_code == 400, (str(request)[:200], answer.text[:300])
            assert expected in strict_json(answer.content)['error'], (expected, answer.text[:300])
        assert requests.get(f'{url}/health', timeout=10).json()['status'] == 'ok'
        answer = requests.post(f'{url}/score', json=good, timeout=10)
        assert answer.status_code == 200
        want = reward.components(images, PROMPTS[:3])
        assert answer.json() == dict(components={k: v.tolist() for k, v in want.items()},
                                     reward=reward.combine(want).tolist())


def test_token_is_required_when_the_server_has_one(monkeypatch):
    reward = REWARDS.build(WEIGHTED)
    images = uint8_images(5)
    with served(reward, token='s3cret') as url:
        assert requests.get(f'{url}/health', timeout=10).status_code == 200
        body = score_body(images, PROMPTS)
        for headers in ({}, {'Authorization': 'Bearer wrong'}, {'Authorization': 's3cret'}):
            answer = requests.post(f'{url}/score', json=body, headers=headers, timeout=10)
            assert answer.status_code == 401 and 'token' in answer.json()['error'], headers
        answer = requests.post(f'{url}/score', json=body, headers={'Authorization': 'Bearer s3cret'}, timeout=10)
        assert answer.status_code == 200
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=r'refused the request \(401\): missing or wrong token'):
            monkeypatch.setenv('ARGRPO_REWARD_TOKEN', 'wrong')
            RemoteReward(url, max_retries=1, backoff=15.0)(images, PROMPTS)
        assert time.monotonic() - start < 10  # a 4xx is not retried
        monkeypatch.setenv('ARGRPO_REWARD_TOKEN', 's3cret')
        assert torch.equal(RemoteReward(url)(images, PROMPTS), reward(images, PROMPTS))


class FlakyReward(BaseReward):
    """Raises on its first ``failures`` calls, then scores each image's mean."""

    def __init__(self, failures: int):
        super().__init__('flaky')
        self.failures = failures

    def score(self, images, prompts):
        if self.failures:
            self.failures -= 1
            raise RuntimeError('CUDA out of memory (a test)')
        return images.mean((1, 2, 3))


def test_failing_reward_is_a_500_with_its_message_and_is_retried():
    images = float_images(6)
    with served(FlakyReward(failures=4)) as url:
        answer = requests.post(f'{url}/score', json=score_body(images, PROMPTS), timeout=10)
        assert answer.status_code == 500 and 'CUDA out of memory (a test)' in answer.json()['error']
        with pytest.raises(RuntimeError, match=r'in 2 tries: it failed \(500\): .*CUDA out of memory'):
            RemoteReward(url, max_retries=1, backoff=0.01, encoding='float32')(images, PROMPTS)
        # the fourth failure is retried away
        got = RemoteReward(url, max_retries=1, backoff=0.01, encoding='float32')(images, PROMPTS)
        assert torch.equal(got, images.mean((1, 2, 3)))


class ExclusiveReward(BaseReward):
    """Records the batch sizes it sees and how many calls ever ran at once; the score depends on
    the image and its prompt, so that a mixed-up answer shows."""

    def __init__(self):
        super().__init__('exclusive')
        self.guard, self.active, self.most_active, self.sizes = threading.Lock(), 0, 0, []

    def score(self, images, prompts):
        with self.guard:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.sizes.append(len(images))
        time.sleep(0.01)
        with self.guard:
            self.active -= 1
        return expected_exclusive(images, prompts)


def expected_exclusive(images, prompts):
    return images.mean((1, 2, 3)) + torch.tensor([float(len(p)) for p in prompts])


def test_concurrent_clients_get_their_own_answers_one_reward_call_at_a_time():
    reward = ExclusiveReward()
    failures = []

    def client(seed: int) -> None:
        remote = RemoteReward(url, encoding='float32')
        for round_ in range(3):
            images, prompts = float_images(100 * seed + round_, n=5), [f'p{seed}' * (i + 1) for i in range(5)]
            got = remote.components(images, prompts)
            want = expected_exclusive(images, prompts)
            if not (torch.equal(got['exclusive'], want) and torch.equal(got['remote'], want)):
                failures.append(seed)

    with served(reward, max_batch=2) as url:
        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not failures
    assert reward.most_active == 1
    assert sorted(set(reward.sizes)) == [1, 2] and len(reward.sizes) == 6 * 3 * 3


def test_reward_config_and_remote_reward_arguments(tmp_path):
    (tmp_path / 'train.py').write_text(f'model = dict(type="ARGRPOModel", reward={WEIGHTED!r})\n')
    (tmp_path / 'both.py').write_text(f'reward = dict(type="GradientReward")\nmodel = dict(reward={WEIGHTED!r})\n')
    (tmp_path / 'none.py').write_text('model = dict(type="ARGRPOModel")\n')
    assert reward_config(Config.fromfile(tmp_path / 'train.py'))['type'] == 'WeightedSum'
    assert reward_config(Config.fromfile(tmp_path / 'both.py'))['type'] == 'GradientReward'
    with pytest.raises(KeyError, match='neither `reward` nor `model.reward`'):
        reward_config(Config.fromfile(tmp_path / 'none.py'))
    with pytest.raises(ValueError, match='e.g. http://127.0.0.1:8600'):
        RemoteReward('127.0.0.1:8600')
    with pytest.raises(ValueError, match='encoding'):
        RemoteReward('http://127.0.0.1:8600', encoding='png')
    assert not RemoteReward('http://127.0.0.1:8600', per_sample=False).per_sample
    whole_batch = GradientReward()
    whole_batch.per_sample = False
    with pytest.raises(ValueError, match='cannot be split'):
        create_app(whole_batch, max_batch=2)
    with served(GradientReward(name='remote')) as url:
        with pytest.raises(ValueError, match="component named 'remote'"):
            RemoteReward(url)(uint8_images(7), PROMPTS)


def test_tokens_are_checked_at_start_and_no_token_beyond_the_loopback_is_refused(monkeypatch):
    """Nothing is bound: waitress's server is replaced by one that stops at once."""
    class Bound(Exception):
        pass

    def create_server(*args, **kwargs):
        raise Bound(kwargs)

    for token in ('', 'two words', 'caf\u00e9', '\x00x', 42):
        with pytest.raises(ValueError, match='printable ASCII'):
            create_app(GradientReward(), token=token)
    monkeypatch.setattr(reward_server.waitress, 'create_server', create_server)
    with pytest.raises(ValueError, match='refusing to serve on 0.0.0.0 without a token.*--allow-no-token'):
        serve(create_app(GradientReward()), host='0.0.0.0')
    with pytest.warns(UserWarning, match='serving on 0.0.0.0 without a token'), pytest.raises(Bound):
        serve(create_app(GradientReward()), host='0.0.0.0', allow_no_token=True)
    for host, token in (('127.0.0.1', None), ('localhost', None), ('::1', None), ('0.0.0.0', 'T')):
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            with pytest.raises(Bound) as bound:
                serve(create_app(GradientReward(), token=token, max_body=1000), host=host)
            # waitress refuses far bigger bodies unread; the app answers those just over its limit
            assert bound.value.args[0]['max_request_body_size'] == 1000 + reward_server.WAITRESS_SLACK


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'tool_{name}', osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings('ignore:--token shows')
def test_the_tool_checks_its_numbers_and_its_token(monkeypatch, capsys, tmp_path):
    tool = load_tool('reward_server')

    def parse(*argv, env=None):
        monkeypatch.setattr(sys, 'argv', ['reward_server.py', 'CONFIG', *argv])
        if env is None:
            monkeypatch.delenv('ARGRPO_REWARD_TOKEN', raising=False)
        else:
            monkeypatch.setenv('ARGRPO_REWARD_TOKEN', env)
        return tool.parse_args()

    def refused(*argv, env=None) -> str:
        with pytest.raises(SystemExit) as stop:
            parse(*argv, env=env)
        assert stop.value.code == 2
        return capsys.readouterr().err

    assert 'argument --port: 70000 is not a port (an integer in 1-65535)' in refused('--port', '70000')
    assert 'is not a port' in refused('--port', '0')
    assert 'is not a port' in refused('--port', '-1')
    assert 'argument --threads: 0 is not a positive integer' in refused('--threads', '0')
    assert 'argument --max-batch: -2 is not a positive integer' in refused('--max-batch', '-2')
    assert 'argument --max-body-mb: 0 is not a positive number' in refused('--max-body-mb', '0')
    assert "argument --max-body-mb: 'nan' is not a positive number" in refused('--max-body-mb', 'nan')
    assert 'argument --max-pixels: 0 is not a positive integer' in refused('--max-pixels', '0')
    assert 'printable ASCII' in refused('--token', '')
    assert 'printable ASCII' in refused('--token', 'caf\u00e9')
    assert 'printable ASCII' in refused(env='tab\there')
    assert 'refusing to serve on 0.0.0.0 without a token' in refused('--host', '0.0.0.0')
    args = parse('--port', '65535', '--host', '0.0.0.0', '--max-body-mb', '0.5', env='from-env')
    assert (args.port, args.token) == (65535, 'from-env')
    assert parse('--host', '0.0.0.0', '--allow-no-token').token is None
    assert parse(env='').token is None  # set but empty: no token (on the loopback)
    (tmp_path / 'token').write_text('from-file\n')
    assert parse('--token-file', str(tmp_path / 'token'), env='from-env').token == 'from-file'
    with pytest.warns(UserWarning, match='shows in `ps`'):
        assert parse('--token', 'visible').token == 'visible'
    assert 'give the token once' in refused('--token', 'a', '--token-file', str(tmp_path / 'token'))


def test_requests_over_the_limits_get_413_naming_them_and_the_server_goes_on():
    reward = REWARDS.build(WEIGHTED)
    small = score_body(uint8_images(8, n=4), PROMPTS)  # 4 x 16 x 12 = 768 pixels, about 3 KB
    many = score_body(uint8_images(9, n=8), PROMPTS * 2)  # 1536 pixels, about 6 KB
    limit = 'over this server\'s limit of 20000 bytes (its --max-body-mb): send smaller batches'
    huge = 20_000 + reward_server.WAITRESS_SLACK  # waitress refuses it unread
    with served(reward, max_body=20_000, max_pixels=1000) as url:
        # over the limit, whole or in chunks: the app's JSON 413 from the length, before reading it;
        # far over it, waitress's own refusal, unread and JSON too, naming the app's limit
        for data, said in ((json.dumps(dict(small, padding='x' * 20_000)).encode(), 'the body of 2'),
                           ((b'x' * 1000 for _ in range(21)), 'the body of 21000 bytes'),
                           (b'x' * huge, 'the body is'),
                           ((b'x' * 2 ** 16 for _ in range(-(-huge // 2 ** 16))), 'the body is')):
            answer = requests.post(f'{url}/score', data=data, timeout=10)
            assert answer.status_code == 413, answer.text[:300]
            assert answer.headers['Content-Type'] == 'application/json', answer.headers
            error = strict_json(answer.content)['error']
            assert error.startswith(said) and limit in error, error
        # at the limit is not over it (JSON allows trailing spaces)
        answer = requests.post(f'{url}/score', data=json.dumps(small).encode().ljust(20_000), timeout=10)
        assert answer.status_code == 200 and len(answer.json()['reward']) == 4
        answer = requests.post(f'{url}/score', data=json.dumps(small).encode().ljust(20_001), timeout=10)
        assert answer.status_code == 413 and answer.json()['error'].startswith('the body of 20001 bytes is over')
        # waitress's other refusals are JSON as well
        with socket.create_connection(('127.0.0.1', int(url.rsplit(':', 1)[1])), timeout=10) as conn:
            conn.sendall(b'POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n')
            raw = b''.join(iter(lambda: conn.recv(65536), b''))
        head, _, content = raw.partition(b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 400') and b'application/json' in head, raw
        assert strict_json(content) == {'error': 'Bad Request: Content-Length is invalid'}
        answer = requests.post(f'{url}/score', json=many, timeout=10)
        assert answer.status_code == 413
        assert strict_json(answer.content)['error'].startswith(
            '8 images of 16 x 12 are 1536 pixels; this server takes at most 1000 pixels')
        # a declared shape is refused before its data is decoded (or even looked at)
        huge = dict(prompts=['p'], images=dict(shape=[1, 100_000, 100_000, 3], dtype='uint8', data=''))
        answer = requests.post(f'{url}/score', json=huge, timeout=10)
        assert answer.status_code == 413 and '10000000000 pixels' in answer.json()['error']
        with pytest.raises(RuntimeError, match=r'refused a batch of 8 images as too large \(413\).*--max-pixels'):
            RemoteReward(url, encoding='uint8')(uint8_images(9, n=8), PROMPTS * 2)
        with pytest.raises(RuntimeError, match=r'refused a batch of 64 images as too large \(413\): the body of '
                                               r'\d+ bytes is over this server\'s limit of 20000 bytes'):
            RemoteReward(url, encoding='uint8')(uint8_images(10, n=64), PROMPTS * 16)
        answer = requests.post(f'{url}/score', json=small, timeout=10)
        assert answer.status_code == 200 and len(answer.json()['reward']) == 4


def test_an_oversize_body_is_never_held_in_memory():
    """With a 2 MiB limit, 5 MB bodies (whole and chunked: waitress refuses them) and one of
    3 MiB, just short of waitress's own limit (read into a temporary file; the app refuses it
    from its length), move this process's peak of Python allocations (the client's, waitress's
    and the app's) by less than 2 MiB, never by a body: waitress keeps at most 512 KiB of a
    body in memory (``inbuf_overflow``) before it spools it to a file (about 1.3 MB at the peak
    here, copies included)."""
    max_body = 2 * reward_server.MiB
    body = b'x' * 5_000_000  # made before the count starts: the client sends it as it is
    just_short = body[:max_body + reward_server.WAITRESS_SLACK - 1]
    with BackgroundServer(create_app(GradientReward(), max_body=max_body)) as server:
        url = server.url
        assert server.server.adj.inbuf_overflow == 512 * 1024
        requests.get(f'{url}/health', timeout=10)
        tracemalloc.start()
        try:
            start, peaks = tracemalloc.get_traced_memory()[0], []
            for data in (body, (body[i:i + 2 ** 16] for i in range(0, len(body), 2 ** 16)), just_short):
                tracemalloc.reset_peak()
                answer = requests.post(f'{url}/score', data=data, timeout=10)
                assert answer.status_code == 413 and f'limit of {max_body} bytes' in answer.json()['error']
                peaks.append(tracemalloc.get_traced_memory()[1] - start)
        finally:
            tracemalloc.stop()
        assert requests.get(f'{url}/health', timeout=10).json()['status'] == 'ok'
    assert max(peaks) < 2 * reward_server.MiB, f'the peaks grew by {peaks} bytes'


class Endless(io.RawIOBase):
    """A body without a length that never ends (up to 64 MiB), given out 64 KiB at a time;
    counts the bytes read from it."""

    def __init__(self):
        super().__init__()
        self.given = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 2 ** 16 if size is None or size < 0 else min(size, 2 ** 16)
        size = min(size, 64 * 2 ** 20 - self.given)
        self.given += size
        return b' ' * size

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def test_a_body_without_a_length_is_read_only_up_to_the_limit():
    """A WSGI server that passes a chunked body on as it comes (no Content-Length,
    ``wsgi.input_terminated``): the app reads at most the limit plus one byte, then answers 413."""
    app = create_app(GradientReward(), max_body=100_000)

    def post(stream) -> Tuple[int, Any]:
        environ = EnvironBuilder(method='POST', path='/score').get_environ()
        environ.pop('CONTENT_LENGTH', None)
        environ.update({'wsgi.input': stream, 'wsgi.input_terminated': True})
        answer = Response.from_app(app, environ)
        return answer.status_code, strict_json(answer.get_data())

    stream = Endless()
    assert post(stream) == (413, {'error': 'the body is over this server\'s limit of 100000 bytes (its --max-body-mb): '
                                           'send smaller batches'})
    assert 100_000 < stream.given <= 100_001
    status, reply = post(io.BytesIO(json.dumps(score_body(uint8_images(15), PROMPTS)).encode()))  # read whole
    assert status == 200 and len(reply['reward']) == 4


class NaNReward(BaseReward):
    def score(self, images, prompts):
        out = images.mean((1, 2, 3))
        out[1] = float('nan')
        out[3] = float('inf')
        return out


def test_a_non_finite_score_is_a_500_in_valid_json():
    with served(NaNReward('nan')) as url:
        answer = requests.post(f'{url}/score', json=score_body(uint8_images(10), PROMPTS), timeout=10)
        assert answer.status_code == 500
        assert 'nan is NaN or inf for images [1, 3] of 4' in strict_json(answer.content)['error']
        answer = requests.get(f'{url}/nowhere', timeout=10)
        assert answer.status_code == 404 and 'error' in strict_json(answer.content)


def canned_reward_server():
    return canned_server('/score')


def reply_of(n: int = 4, **override) -> dict:
    reply = dict(components={'a': [0.5] * n}, reward=[1.0] * n)
    reply.update(override)
    return reply


def test_remote_reward_refuses_malformed_replies_naming_the_url():
    images = uint8_images(11)
    raw = lambda text: (text, 200, {'Content-Type': 'application/json'})  # noqa: E731
    cases = [
        (raw('not json'), 'malformed reply \\(not JSON'),
        (raw('{"components": {"a": [1, 2, NaN, 4]}, "reward": [1, 2, 3, 4]}'), 'NaN is not JSON'),
        (raw('{"components": {"a": [1, 2, 3, 4]}, "reward": [1, 2, 1e999, 4]}'), r'reward\[2\] is inf'),
        (reply_of(components={'a': [0.5, None, 0.5, 0.5]}), r"components\['a'\]\[1\] is None, not a finite"),
        (reply_of(reward=[1.0, '2', 1.0, 1.0]), r"reward\[1\] is '2', not a finite number"),
        (reply_of(reward=[1.0, True, 1.0, 1.0]), r'reward\[1\] is True'),
        (reply_of(reward=[1.0] * 3), 'answered reward with 3 values for 4 images'),
        (reply_of(components={'a': 0.5}), r"answered components\['a'\] with float for 4 images"),
        (dict(components=[1, 2], reward=[1, 2, 3, 4]), 'not an object with "components" and "reward"'),
        (dict(components={}), 'not an object with "components" and "reward"'),
    ]
    with canned_reward_server() as (state, reset):
        for reply, match in cases:
            url = reset(lambda payload, call: reply)
            with pytest.raises(RuntimeError, match=f'reward server at {url}.*{match}'):
                RemoteReward(url, backoff=0.01)(images, PROMPTS)
            assert state['calls'] == 1  # not retried
        url = reset(lambda payload, call: reply_of())
        assert RemoteReward(url).components(images, PROMPTS)['a'].tolist() == [0.5] * 4


def test_remote_reward_retries_429_honouring_retry_after_within_its_deadline():
    images = uint8_images(12)
    with canned_reward_server() as (state, reset):
        url = reset(lambda payload, call: reply_of() if call > 2 else (
            {'error': 'busy'}, 429, {'Retry-After': '0.6' if call == 1 else '0'}))
        start = time.monotonic()
        assert RemoteReward(url, backoff=0.01).components(images, PROMPTS)['remote'].tolist() == [1.0] * 4
        assert state['calls'] == 3 and time.monotonic() - start >= 0.6  # waited as asked, not 0.01 s
        # asked to wait past the deadline: a clear error at once, not an hour's sleep
        url = reset(lambda payload, call: ({'error': 'come back later'}, 429, {'Retry-After': '3600'}))
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=f'{url} did not score the batch in 1 tries: it failed \\(429\\): '
                                               'come back later; the next try \\(in 3600 s\\) would pass the '
                                               'deadline of 900 s'):
            RemoteReward(url, backoff=0.01)(images, PROMPTS)
        assert time.monotonic() - start < 5 and state['calls'] == 1
        # a 503 without Retry-After is retried with the backoff, max_retries times
        url = reset(lambda payload, call: ('down for maintenance', 503))
        with pytest.raises(RuntimeError, match=r'in 3 tries: it failed \(503\): down for maintenance'):
            RemoteReward(url, max_retries=2, backoff=0.01)(images, PROMPTS)
        assert state['calls'] == 3


def test_remote_reward_has_a_total_deadline_not_a_per_read_timeout():
    """The trickling server never lets a read wait 0.1 s; its whole reply would take 8 s."""
    images = uint8_images(13)
    body = json.dumps(reply_of()).encode()
    for headers_too in (False, True):
        with trickling_server(body, pause=0.1, headers_too=headers_too) as url:
            start = time.monotonic()
            with pytest.raises(RuntimeError, match=f'{url} did not score the batch in 1 tries: no complete answer '
                                                   'in 0.5 s \\(timeout=0.5, deadline=900'):
                RemoteReward(url, timeout=0.5, max_retries=0)(images, PROMPTS)
            assert time.monotonic() - start < 1.5
            # retries included, a call ends by its deadline
            start = time.monotonic()
            with pytest.raises(RuntimeError, match='no complete answer in 0.1 s|would pass the deadline'):
                RemoteReward(url, timeout=0.4, deadline=0.5, max_retries=5, backoff=0)(images, PROMPTS)
            assert time.monotonic() - start < 1.5
    with trickling_server(b'{"a": 12345}', pause=0.01) as url:  # a reply that ends in time arrives
        assert DeadlineSession().post(url, json={}, total=5).json() == {'a': 12345}
        with pytest.raises(DeadlineExceeded):
            DeadlineSession().post(url, json={}, total=0.05)


def test_remote_reward_token_from_the_environment_never_from_the_config(monkeypatch):
    images = uint8_images(14)
    with canned_reward_server() as (state, reset):
        url = reset(lambda payload, call: reply_of())
        RemoteReward(url)(images, PROMPTS)
        assert 'Authorization' not in state['headers'][-1]
        monkeypatch.setenv('ARGRPO_REWARD_TOKEN', 'env-token')
        remote = RemoteReward(url)
        remote(images, PROMPTS)
        assert state['headers'][-1]['Authorization'] == 'Bearer env-token'
        assert 'env-token' not in repr(remote) and 'env-token' not in str(remote.state_dict())
        monkeypatch.setenv('OTHER_TOKEN', 'other')
        RemoteReward(url, token_env='OTHER_TOKEN')(images, PROMPTS)
        assert state['headers'][-1]['Authorization'] == 'Bearer other'
        # a token in the config would be in its dump, the log and every checkpoint: refused, the
        # variable to set named, the token not repeated
        for env, name in ((None, 'ARGRPO_REWARD_TOKEN'), ('OTHER_TOKEN', 'OTHER_TOKEN')):
            with pytest.raises(ValueError, match=rf"RemoteReward\(token=\.\.\.\) is refused: a token in a config is "
                                                 rf"written into the work dir's config dump, the log and every "
                                                 rf"checkpoint's meta. Set the environment variable \${name} "):
                RemoteReward(url, token='given-4f2a', **({} if env is None else dict(token_env=env)))
        with pytest.raises(ValueError) as error:
            RemoteReward(url, token='given-4f2a')
        assert 'given-4f2a' not in str(error.value)
        assert state['calls'] == 3
    monkeypatch.setenv('ARGRPO_REWARD_TOKEN', 'caf\u00e9')
    with pytest.raises(ValueError, match=r'\$ARGRPO_REWARD_TOKEN must be a non-empty string of printable ASCII'):
        RemoteReward('http://127.0.0.1:8600')
    for bad in (dict(timeout=0), dict(deadline=-1), dict(max_retries=-1), dict(backoff=-1)):
        with pytest.raises(ValueError):
            RemoteReward('http://127.0.0.1:8600', token_env=None, **bad)


def test_the_load_benchmark_runs_clean(monkeypatch, capsys):
    """benchmarks/bench_reward_server.py, briefly, against a server in this process."""
    spec = importlib.util.spec_from_file_location('bench_reward_server',
                                                  osp.join(ROOT, 'benchmarks', 'bench_reward_server.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, 'argv', ['bench_reward_server.py', '--in-process', '--clients', '3', '--seconds', '1',
                                      '--images', '2', '--size', '16', '--latency', '0.001'])
    bench.main()  # exits 1 on an error, a wrong or a lost answer
    out = capsys.readouterr().out
    assert ' 0 wrong, 0 errors, 0 lost;' in out and 'latency ms: p50' in out and 'CPU: ' in out, out
    sent = int(out.split('requests: ')[1].split(' sent')[0])
    assert sent >= 3
