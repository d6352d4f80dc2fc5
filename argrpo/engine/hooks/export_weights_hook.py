"""After training, one part of the model saved in the file format its loader reads, so that the
next stage loads it through the real loading code: LlamaGen's ``{'model': state_dict}`` for VQ
tokenizers and GPTs (a LoRA policy with its adapters merged), a plain state dict for timm and
open_clip models."""
import copy
import operator
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from argrpo.registry import HOOKS
from argrpo.utils import atomic_write, unwrap_model, whole


@HOOKS.register_module()
class ExportWeightsHook(Hook):
    """Save one part of the model after training, in the format its loader reads.

    Args:
        module: attribute path of the part in the model (e.g. 'tokenizer', 'generator', 'net').
        path: output file, relative to the work dir.
        wrap_key: the key the state dict is stored under ('model' as LlamaGen), None for none.
        half: state dict keys saved in float16, for large tables of which training touches few
            rows (an open_clip token embedding over its 49 408-token vocabulary); loaders cast
            them back to the model's dtype.
    """

    priority = 'VERY_LOW'

    def __init__(self, module: str, path: str, wrap_key: Optional[str] = 'model', half: Sequence[str] = ()):
        self.module, self.path, self.wrap_key, self.half = module, path, wrap_key, tuple(half)

    def after_train(self, runner) -> None:
        from argrpo.models.lora import adapted_layers, merge_lora  # models import the engine
        part = operator.attrgetter(self.module)(unwrap_model(runner.model))
        if adapted_layers(part):  # a LoRA policy: its adapters merged, in the family's key names
            part = merge_lora(copy.deepcopy(part))
        # every process takes part in gathering sharded (FSDP) tensors; the main one writes
        state = {k: whole(v).detach().cpu() for k, v in part.state_dict().items()}
        unknown = sorted(set(self.half) - set(state))
        if unknown:
            raise KeyError(f'ExportWeightsHook half={unknown}: not in the state dict of {self.module}')
        state.update({key: state[key].half() for key in self.half})
        if not is_main_process():
            return
        path = osp.join(runner.work_dir, self.path)
        atomic_write(path, lambda f: torch.save({self.wrap_key: state} if self.wrap_key else state, f))
        print_log(f'{self.module} weights exported to {path}', logger='current')
