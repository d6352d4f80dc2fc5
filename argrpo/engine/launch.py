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
