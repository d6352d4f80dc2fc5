"""A training run survives its reward service (tools/reward_server.py in a subprocess, a cheap
reward, configs/grpo_tiny made smaller): killed for good, the run stops with an error naming the
server after its last checkpoint; resumed with the server restarted as the next iteration begins
(its reward waits for the server within RemoteReward's retry window), the run ends with the
numbers of a run that never lost it. The token travels through $ARGRPO_REWARD_TOKEN and lands in no file
of the work dir."""
import glob
import os
import os.path as osp
import threading

import pytest
import torch
from argrpo_testing import TINY_VQ, randomize
from http_servers import ToolServer
from mmengine.hooks import Hook

from argrpo import apis
from argrpo.registry import HOOKS, TOKENIZERS
from argrpo.utils import unwrap_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py')
TOKEN = 'training-run-token-6b1f'
SERVERS = {}  # what the hook below kills and restarts, by name


@HOOKS.register_module(force=True)
class OutageHook(Hook):
    """Kills ``SERVERS[server]`` (if it runs) before iteration ``restart_before`` and starts it
    again in a thread (the iteration's reward waits for it: a server takes seconds to start); kills it for good after iteration
    ``kill_after`` (after its checkpoint), the RemoteReward's retries first cut to one (a run
    would otherwise wait its whole retry window). Iterations count from 1."""

    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self, server: str, restart_before: int = 0, kill_after: int = 0):
        self.server, self.restart_before, self.kill_after = SERVERS[server], restart_before, kill_after

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 == self.restart_before:
            self.server.stop()  # if it runs
            threading.Thread(target=self.server.start, daemon=True).start()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.kill_after:  # runner.iter counts from 0 until the loop moves on
            remote = unwrap_model(runner.model).reward.rewards[0]
            remote.max_retries, remote.backoff = 1, 0.1
            self.server.stop()


@pytest.fixture(scope='module')
def vq_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('vq') / 'vq.pt'
    torch.save({'model': randomize(TOKENIZERS.build(dict(TINY_VQ, codebook_size=8)), std=0.2).state_dict()}, path)
    return str(path)


def run_train(work_dir, vq_file, name, reward=None, resume=None, **options):
    options = {'model.tokenizer.checkpoint': vq_file, 'experiment_name': name, 'train_cfg.max_iters': 2,
               'train_cfg.val_interval': 100, 'default_hooks.checkpoint.interval': 1, 'randomness.seed': 5,
               'train_dataloader.batch_size': 2, 'model.algorithm.group_size': 4, 'model.algorithm.inner_epochs': 1,
               'model.algorithm.minibatches': 1, 'custom_hooks': [], **options}
    if reward is not None:
        options['model.reward'] = dict(_delete_=True, type='WeightedSum', rewards=[reward])
    return apis.train(apis.train_config(apis.load_config(CONFIG, options, str(work_dir)), resume=resume))


@pytest.mark.slow
def test_training_survives_a_restart_and_resumes_after_an_outage(tmp_path, vq_file, monkeypatch):
    monkeypatch.setenv('ARGRPO_REWARD_TOKEN', TOKEN)
    (tmp_path / 'reward.py').write_text("reward = dict(type='GradientReward', name='reward')\n")
    server = ToolServer(str(tmp_path / 'reward.py'), str(tmp_path / 'server.log'), token=TOKEN,
                        reward_type='GradientReward')
    SERVERS['gradient'] = server
    remote = dict(type='RemoteReward', url=server.url, encoding='float32', max_retries=8, backoff=0.5,
                  max_backoff=2.0)
    server.start()
    try:
        # the run that never lost its server: what the others must reproduce (the reward in this
        # process would differ in the last bits: the server sums contiguous copies of the images)
        steady = run_train(tmp_path / 'steady', vq_file, 'steady', reward=remote)
        # gone for good after iteration 1: iteration 2 fails, naming the server
        with pytest.raises(RuntimeError) as error:
            run_train(tmp_path / 'served', vq_file, 'served', reward=remote,
                      custom_hooks=[dict(type='OutageHook', server='gradient', kill_after=1)])
        message = str(error.value)
        assert f'the reward server at {server.url} did not score the batch in 2 tries' in message, message
        assert f'python tools/reward_server.py CONFIG --port {server.port}' in message
        checkpoints = sorted(osp.basename(p) for p in glob.glob(str(tmp_path / 'served' / 'iter_*.pth')))
        assert checkpoints == ['iter_1.pth']  # iteration 2 never finished
        # resumed from the last checkpoint, the server started again as iteration 2 begins (its
        # reward waits for it, within the retry window): the steady run's numbers
        resumed = run_train(tmp_path / 'served', vq_file, 'resumed', reward=remote,
                            resume=str(tmp_path / 'served' / 'iter_1.pth'),
                            custom_hooks=[dict(type='OutageHook', server='gradient', restart_before=2)])
        log = ''.join(open(p).read() for p in glob.glob(str(tmp_path / 'served' / '*' / '*.log')))
        assert f'the reward server at {server.url}: no answer (ConnectionError' in log  # it was waited for
    finally:
        server.stop()
        SERVERS.clear()
    assert resumed.iter == 2
    want = {k: v for k, v in steady.model.state_dict().items() if k.startswith('policy.')}
    got = resumed.model.state_dict()
    assert want and not torch.equal(want['policy.output.weight'], torch.zeros_like(want['policy.output.weight']))
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
    assert resumed.message_hub.get_scalar('train/reward_mean').current() == \
        steady.message_hub.get_scalar('train/reward_mean').current()
    # the token is in no config dump, log, checkpoint or scalar file of the run
    files = [p for p in glob.glob(str(tmp_path / 'served' / '**' / '*'), recursive=True) if osp.isfile(p)]
    assert any(p.endswith('.py') for p in files) and any(p.endswith('.pth') for p in files)
    for path in files:
        with open(path, 'rb') as f:
            assert TOKEN.encode() not in f.read(), path
    assert os.environ['ARGRPO_REWARD_TOKEN'] == TOKEN


SECRET = 'config-secret-73d0'


def secret_config(tmp_path) -> str:
    """A training config whose RemoteReward is given a token (its judge's OpenAIVLM, behind
    $ARGRPO_VLM_API_KEY, none): what must never reach a file."""
    path = tmp_path / 'secret.py'
    path.write_text(f'_base_ = [{CONFIG!r}]\n' + '''\
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    dict(type='GradientReward'),
    dict(type='VLMJudge', backend=dict(type='OpenAIVLM', base_url='http://127.0.0.1:1/v1', model='m'),
         questions=[dict(name='real', prompt='Is it a real photo? Answer yes or no.', answer='yes')]),
    dict(type='RemoteReward', url='http://127.0.0.1:1', token_env='MY_TOKEN', token=SECRET)]))
'''.replace('SECRET', repr(SECRET)))
    return str(path)


def test_a_token_or_key_in_a_config_is_refused_naming_it_and_the_variable_to_set(tmp_path):
    from mmengine.config import Config

    from argrpo.utils.http import refuse_secrets
    cfg = Config.fromfile(secret_config(tmp_path))  # as read, before load_config refuses it
    with pytest.raises(ValueError, match=r"^RemoteReward\(token=\.\.\.\) \(at model\.reward\.rewards\[2\]\.token\) is "
                                         r"refused: a token in a config is written into the work dir's config dump, "
                                         r"the log and every checkpoint's meta. Set the environment variable "
                                         r"\$MY_TOKEN instead") as error:
        refuse_secrets(cfg)
    assert SECRET not in str(error.value)
    cfg.model.reward.rewards[2].token = None
    cfg.model.reward.rewards[1].backend.api_key = SECRET
    with pytest.raises(ValueError, match=r'^OpenAIVLM\(api_key=\.\.\.\) \(at model\.reward\.rewards\[1\]\.backend\.'
                                         r'api_key\) is refused: an API key .* \$ARGRPO_VLM_API_KEY instead'):
        refuse_secrets(cfg)
    cfg.model.reward.rewards[1].backend.api_key = None
    refuse_secrets(cfg)  # no secret left: nothing to say
    refuse_secrets(apis.load_config(CONFIG))
    assert not (tmp_path / 'run').exists()


def test_a_run_whose_config_holds_a_token_is_refused_before_anything_is_written(tmp_path):
    work_dir = tmp_path / 'run'
    try:
        with pytest.raises(ValueError, match=r'RemoteReward\(token=\.\.\.\).* is refused.*\$MY_TOKEN'):
            apis.train(apis.train_config(apis.load_config(secret_config(tmp_path), work_dir=str(work_dir))))
    finally:
        written = [p for p in glob.glob(str(work_dir / '**' / '*'), recursive=True) if osp.isfile(p)]
        leaked = [p for p in written if SECRET.encode() in open(p, 'rb').read()]
    assert not leaked, f'the token is in {leaked}'
    assert not written, f'{written} were written'
