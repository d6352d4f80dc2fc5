"""A progress bar over the batches of evaluation (validation during training, and test): a
50 000-image evaluation runs for hours and should say how far it is."""
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar

from argrpo.registry import HOOKS


@HOOKS.register_module()
class EvalProgressHook(Hook):

    priority = 'LOW'

    def __init__(self):
        self.bar: Optional[ProgressBar] = None

    def _before_epoch(self, runner, mode: str = 'train') -> None:
        if mode in ('val', 'test') and is_main_process():
            self.bar = ProgressBar(len(getattr(runner, f'{mode}_dataloader')))

    def _after_iter(self, runner, batch_idx: int, data_batch=None, outputs=None, mode: str = 'train') -> None:
        if mode in ('val', 'test') and self.bar is not None:
            self.bar.update()

    def _after_epoch(self, runner, mode: str = 'train') -> None:
        if mode in ('val', 'test') and self.bar is not None:
            self.bar.file.write('\n')
            self.bar = None
