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
