"""Rollout samples to the visualizer (TensorBoard) every N iterations: how users catch reward
hacking (grid artefacts, collapse) before the numbers show it."""
from mmengine.hooks import Hook

from argrpo.registry import HOOKS
from argrpo.utils import image_grid


@HOOKS.register_module()
class SampleGridHook(Hook):
    """Shows the images that the model posts as the ``rollout_images`` runtime info of the
    message hub (``ARGRPOModel``: the first ``keep_images`` of each rollout)."""

    priority = 'LOW'

    def __init__(self, interval: int = 50):
        if interval < 1:
            raise ValueError('interval must be >= 1')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if (runner.iter + 1) % self.interval:
            return
        images = runner.message_hub.get_info('rollout_images')
        if images is not None:
            runner.visualizer.add_image('rollout_samples', image_grid(images), step=runner.iter + 1)
