"""The entry points of runs, for the command-line tools and for scripts (``tools/demo.py``):

    cfg = load_config('configs/grpo_tiny/grpo_tiny_c2i_gradient.py', {'train_cfg.max_iters': 10})
    runner = train(train_config(cfg))
    metrics = evaluate(evaluation_config(load_config(config, work_subdir='test')), checkpoint)

(``evaluate`` rather than ``test``: test runners would collect a function of that name.)
"""
from .config import add_run_arguments, evaluation_config, load_config, load_run_config, train_config
from .run import evaluate, init_cpu_distributed, is_run_checkpoint, markdown_table, train
from .sample import build_generation_model

__all__ = ['add_run_arguments', 'evaluation_config', 'load_config', 'load_run_config', 'train_config',
           'evaluate', 'init_cpu_distributed', 'is_run_checkpoint', 'markdown_table', 'train',
           'build_generation_model']
