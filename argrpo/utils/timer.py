"""Wall-clock timing of the stages of a step, for the training log."""
import contextlib
import time
from typing import Dict, Iterator

import torch


@contextlib.contextmanager
def timed(log: Dict[str, torch.Tensor], key: str) -> Iterator[None]:
    """Store the seconds the block took as ``log[key]`` (a tensor, as MMEngine logs them)."""
    start = time.perf_counter()
    yield
    log[key] = torch.tensor(time.perf_counter() - start)
