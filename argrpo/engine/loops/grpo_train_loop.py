"""The GRPO training loop: MMEngine's iteration loop, with randomness tied to the iteration.

Before iteration ``i`` every random generator is seeded from (seed, i, rank). A run resumed from
the checkpoint of iteration k then draws exactly what an uninterrupted run draws in k+1, k+2, ...
(MMEngine restores the parameters, optimizer and iteration, and replays the prompt sampler).
"""
from mmengine.dist import get_rank
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.utils import set_random_seed

from argrpo.registry import LOOPS


@LOOPS.register_module()
class GRPOTrainLoop(IterBasedTrainLoop):

    def run_iter(self, data_batch) -> None:
        base = self.runner.seed if self.runner.seed is not None else 0
        set_random_seed((base + 1_000_003 * self._iter + 7919 * get_rank()) % 2 ** 31,
                        deterministic=False)
        super().run_iter(data_batch)
