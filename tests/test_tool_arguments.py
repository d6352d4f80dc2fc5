"""The numbers a user gives the tools are checked before anything runs: a port outside 1-65535,
zero or negative GPU counts, sizes and sampling settings out of range are usage errors that name
the argument (tools/reward_server.py's own are in test_reward_server.py)."""
import importlib.util
import os.path as osp
import subprocess

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'tool_{name}', osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refused(parse, argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_memory_plan_arguments(capsys):
    parse = load_tool('memory_plan').parse_args
    assert 'argument --gpus: 0 is not a positive integer' in refused(parse, ['C', '--gpus', '0'], capsys)
    assert 'argument --gpus: -4 is not a positive integer' in refused(parse, ['C', '--gpus', '-4'], capsys)
    assert 'argument --memory: 0 is not a positive number' in refused(parse, ['C', '--memory', '0'], capsys)
    assert "argument --memory: 'inf' is not a positive number" in refused(parse, ['C', '--memory', 'inf'], capsys)
    assert 'argument --chunk: 0 is not a positive integer' in refused(parse, ['C', '--chunk', '0'], capsys)
    assert 'argument --minibatch: -1 is not a positive integer' in refused(parse, ['C', '--minibatch', '-1'], capsys)
    assert 'argument --table-gpus: 0 is not a positive integer' in refused(
        parse, ['C', '--archs', 'GPT-B', '--table-gpus', '4', '0'], capsys)
    args = parse(['C', '--gpus', '8', '--memory', '79.5', '--chunk', '16'])
    assert (args.gpus, args.memory, args.chunk) == (8, 79.5, 16)


def test_sample_arguments(capsys):
    parse = load_tool('sample').parse_args
    base = ['C', '--classes', '1']
    for argv, message in [(['--batch-size', '0'], 'argument --batch-size: 0 is not a positive integer'),
                          (['--num-per-prompt', '-1'], 'argument --num-per-prompt: -1 is not a positive integer'),
                          (['--temperature', '0'], 'argument --temperature: 0 is not a positive number'),
                          (['--top-k', '-1'], 'argument --top-k: -1 is not a non-negative integer'),
                          (['--top-p', '1.5'], 'argument --top-p: 1.5 is not in (0, 1]'),
                          (['--top-p', '0'], 'argument --top-p: 0 is not a positive number'),
                          (['--cfg-scale', '0.5'], 'argument --cfg-scale: 0.5 is below 1')]:
        assert message in refused(parse, base + argv, capsys), argv
    args = parse(base + ['--top-k', '0', '--top-p', '1', '--cfg-scale', '1', '--temperature', '0.7'])
    assert (args.top_k, args.top_p, args.cfg_scale, args.temperature) == (0, 1.0, 1.0, 0.7)


@pytest.mark.parametrize('gpus, env, message', [
    ('0', {}, "GPUS must be a positive integer (processes per machine), got '0'"),
    ('-2', {}, "GPUS must be a positive integer"),
    ('two', {}, "GPUS must be a positive integer"),
    ('2', {'PORT': '70000'}, "PORT must be in 1-65535, got '70000'"),
    ('2', {'NNODES': '0'}, "NNODES must be a positive integer"),
    ('2', {'NNODES': '2', 'NODE_RANK': '2'}, "NODE_RANK must be in 0-1, got '2'"),
])
def test_dist_launch_checks_its_numbers_before_torchrun(gpus, env, message):
    out = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), 'CONFIG', gpus],
                         env=dict(env, PATH='/usr/bin:/bin'), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and message in out.stderr, out.stderr
