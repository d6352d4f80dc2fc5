"""Configs of runs: a config file with the overrides of a command line or a script."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction

from argrpo.utils.http import refuse_secrets


def load_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none', work_subdir: str = '') -> Config:
    """The config file ``config`` with ``cfg_options`` merged in ({'key.sub': value}), its
    ``launcher``, and its ``work_dir``: the given one, else the config's, else
    work_dirs/<config name>[/<work_subdir>]. A reward service token or API key written in it is
    refused (see ``argrpo.utils.http.refuse_secrets``)."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    refuse_secrets(cfg)  # a token in a config would be written to the log, the work dir and every checkpoint
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(config))[0], work_subdir)
    return cfg


def train_config(cfg: Config, resume: Optional[str] = None, amp: Optional[str] = None, fsdp: bool = False) -> Config:
    """``cfg`` set to resume (``resume='auto'``: from the work dir's latest checkpoint, else
    from that file), to train in mixed precision (``amp`` 'bfloat16', or 'float16' with loss
    scaling) through ``AutocastOptimWrapper``, on a GPU or a CPU, and with ``fsdp`` to shard the
    policy and the reference across processes (``GRPOFullyShardedDataParallel``)."""
    if fsdp:
        cfg.model_wrapper_cfg = dict(type='argrpo.GRPOFullyShardedDataParallel')
    if amp:
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.dtype = amp
    if resume is not None:
        cfg.resume, cfg.load_from = True, None if resume == 'auto' else resume
    return cfg


def evaluation_config(cfg: Config, out: Optional[str] = None) -> Config:
    """``cfg`` set to evaluate: its ``test_dataloader`` / ``test_evaluator`` (or, without them,
    its ``val_*``) with ``SampleExport`` added (grid, and with ``out`` every sample as an
    ADM-compatible npz under the work dir); nothing loaded or resumed by the Runner."""
    for part in ('dataloader', 'evaluator', 'cfg'):
        if cfg.get(f'test_{part}') is None:
            if cfg.get(f'val_{part}') is None:
                raise ValueError(f'{cfg.filename} has neither test_{part} nor val_{part}: '
                                 'say what to sample and measure')
            cfg[f'test_{part}'] = cfg[f'val_{part}'] if part != 'cfg' else dict(type='TestLoop')
    evaluator = cfg.test_evaluator
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    cfg.test_evaluator = metrics + [dict(type='SampleExport', out_dir=cfg.work_dir, npz=out)]
    cfg.load_from, cfg.resume = None, False
    return cfg


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every run tool takes: --work-dir, --cfg-options, --launcher, --local-rank."""
    parser.add_argument('--work-dir', help='where logs, configs, checkpoints, metrics and TensorBoard go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_run_config(args: argparse.Namespace, work_subdir: str = '') -> Config:
    """``load_config`` with the arguments of ``add_run_arguments`` (and ``args.config``);
    ``--local-rank`` (torch.distributed.launch) becomes LOCAL_RANK as torchrun sets it."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return load_config(args.config, args.cfg_options, args.work_dir, args.launcher, work_subdir)
