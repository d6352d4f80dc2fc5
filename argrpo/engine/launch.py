"""What tools/train.py and tools/test.py share to start a run."""
import os

import torch


def init_cpu_distributed(launcher: str) -> None:
    """MMEngine's launchers call torch.cuda.set_device; without a GPU start gloo ourselves."""
    if launcher == 'none' or torch.cuda.is_available() or torch.distributed.is_initialized():
        return
    if launcher == 'slurm':
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    torch.distributed.init_process_group('gloo')


def load_tool(name: str):
    """``tools/<name>.py`` of this checkout as a module (the tools are scripts, not a package;
    ``tools/demo.py`` and the tests call their ``main``)."""
    import importlib.util
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(f'argrpo_tools_{name}', osp.join(root, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_run_arguments(parser) -> None:
    """The options every run tool takes: --work-dir, --cfg-options, --launcher, --local-rank."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='where logs, configs, checkpoints, metrics and TensorBoard go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_run_config(args, default_subdir: str = ''):
    """The config of ``args.config`` with the overrides, launcher and work dir of the command line
    (default: work_dirs/<config name>[/<default_subdir>])."""
    import os.path as osp
    from mmengine.config import Config
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0], default_subdir)
    return cfg
