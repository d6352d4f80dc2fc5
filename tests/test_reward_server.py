"""The reward service as users run it: tools/reward_server.py in its own process and RemoteReward
scoring through it exactly as the local reward does, across a restart; the server's answers to
bad requests, tokens, failing rewards and concurrent clients (in-process waitress servers where
no subprocess is needed). Everything on 127.0.0.1."""
import base64
import contextlib
import os
import os.path as osp
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest
import requests
import torch
import waitress
from mmengine.config import Config

from argrpo.registry import REWARDS
from argrpo.rewards import BaseReward, GradientReward, RemoteReward
from argrpo.services import create_app, reward_config, reward_server, serve
from argrpo.utils import quantize, to_uint8

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WEIGHTED = dict(type='WeightedSum', rewards=[
    dict(type='GradientReward', weight=1.0),
    dict(type='GradientReward', weights=(0.0, 1.0, 0.0), name='green', weight=-0.5)])
PROMPTS = ['a red ramp', 'a green field', 'a blue sky', 'noise']
TOOL_TOKEN = 'tool-token'  # the subprocess reads it from ARGRPO_REWARD_TOKEN


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


def assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key


@contextlib.contextmanager
def served(reward: BaseReward, **kwargs):
    """``create_app(reward, **kwargs)`` under waitress in this process, on a free port."""
    server = waitress.create_server(create_app(reward, **kwargs), host='127.0.0.1', port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        yield f'http://127.0.0.1:{server.effective_port}'
    finally:
        server.close()


class ToolServer:
    """tools/reward_server.py as a subprocess on a fixed port (so that it can be restarted there)."""

    def __init__(self, config: str, log: str):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            self.port = sock.getsockname()[1]
        self.url = f'http://127.0.0.1:{self.port}'
        self.config, self.log, self.proc = config, log, None

    def start(self) -> None:
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'reward_server.py'), self.config,
               '--port', str(self.port), '--device', 'cpu', '--threads', '2']
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
                                                   ARGRPO_REWARD_TOKEN=TOOL_TOKEN))
        deadline, health = time.monotonic() + 180, None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                health = requests.get(f'{self.url}/health', timeout=5).json()
            except requests.ConnectionError:
                time.sleep(0.2)
                continue
            if health == dict(status='ok', reward='reward', type='WeightedSum'):
                return
            break
        pytest.fail(f'the reward server did not come up healthy ({health}):\n{open(self.log).read()}')

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture(scope='module')
def tool_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('reward_server')
    config = tmp / 'reward.py'
    config.write_text(f'reward = {WEIGHTED!r}\n')
    server = ToolServer(str(config), str(tmp / 'server.log'))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_served_reward_equals_the_local_one(tool_server):
    local = REWARDS.build(WEIGHTED)
    log = open(tool_server.log).read()
    assert f'ready at {tool_server.url}' in log and '1 * gradient + -0.5 * green' in log
    for encoding, images in (('float32', float_images(0)), ('uint8', uint8_images(1))):
        remote = RemoteReward(tool_server.url, token=TOOL_TOKEN, encoding=encoding)
        want = local.components(images, PROMPTS)
        got = remote.components(images, PROMPTS)
        assert_same(got, dict(want, remote=local.combine(want)))
        assert torch.equal(remote(images, PROMPTS), local(images, PROMPTS))
    # uint8 sends what a saved image holds: the reward scores the quantised images
    images = float_images(2)
    got = RemoteReward(tool_server.url, token=TOOL_TOKEN, encoding='uint8')(images, PROMPTS)
    torch.testing.assert_close(got, local(quantize(images), PROMPTS))
    assert not torch.allclose(got, local(images, PROMPTS), rtol=0, atol=1e-6)
    # inside a WeightedSum the served reward counts once, and each served component is logged
    outer = REWARDS.build(dict(type='WeightedSum', rewards=[
        dict(type='RemoteReward', url=tool_server.url, token=TOOL_TOKEN, encoding='float32', weight=2.0)]))
    components = outer.components(images, PROMPTS)
    assert set(components) == {'gradient', 'green', 'remote'}
    assert torch.equal(outer.combine(components), 2 * local(images, PROMPTS))
    with pytest.raises(RuntimeError, match=r'\(401\): missing or wrong token'):
        RemoteReward(tool_server.url)(images, PROMPTS)


def test_stopped_server_is_a_clear_error_and_a_restarted_one_serves_again(tool_server):
    local = REWARDS.build(WEIGHTED)
    images = float_images(3)
    remote = RemoteReward(tool_server.url, TOOL_TOKEN, timeout=5, max_retries=2, backoff=0.05, encoding='float32')
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
    ]
    with served(reward) as url:
        for request, expected in cases:
            answer = requests.post(f'{url}/score', timeout=10, **request)
            assert answer.status_code == 400, (request, answer.text)
            assert expected in answer.json()['error'], (expected, answer.json())
        assert requests.get(f'{url}/health', timeout=10).json()['status'] == 'ok'
        answer = requests.post(f'{url}/score', json=good, timeout=10)
        assert answer.status_code == 200
        want = reward.components(images, PROMPTS[:3])
        assert answer.json() == dict(components={k: v.tolist() for k, v in want.items()},
                                     reward=reward.combine(want).tolist())


def test_token_is_required_when_the_server_has_one():
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
            RemoteReward(url, token='wrong', max_retries=1, backoff=15.0)(images, PROMPTS)
        assert time.monotonic() - start < 10  # a 4xx is not retried
        assert torch.equal(RemoteReward(url, token='s3cret')(images, PROMPTS), reward(images, PROMPTS))


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


def test_serving_beyond_the_loopback_without_a_token_warns(monkeypatch):
    """Nothing is bound: waitress's server is replaced by one that stops at once."""
    class Bound(Exception):
        pass

    def create_server(*args, **kwargs):
        raise Bound

    monkeypatch.setattr(reward_server.waitress, 'create_server', create_server)
    with pytest.warns(UserWarning, match='serving on 0.0.0.0 without a token'), pytest.raises(Bound):
        serve(create_app(GradientReward()), host='0.0.0.0')
    for host, token in (('127.0.0.1', None), ('localhost', None), ('::1', None), ('0.0.0.0', 'T')):
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            with pytest.raises(Bound):
                serve(create_app(GradientReward(), token=token), host=host)
