"""The GRPO training loop: MMEngine's iteration loop, with randomness tied to the iteration.

Before iteration ``i`` every random generator is seeded from (seed, i, rank), and the batch gets
``rollout_seed``, from (seed, i) alone: ``ARGRPOModel`` draws each prompt's samples from it and
the prompt's index, so the samples do not depend on the number of processes. A run resumed from
the checkpoint of iteration k then draws exactly what an uninterrupted run draws in k+1, k+2, ...
(MMEngine restores the parameters, optimizer and iteration, and replays the prompt sampler).
"""
from mmengine.dist import get_rank
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.utils import set_random_seed

from argrpo.registry import LOOPS


@LOOPS.register_module()
class GRPOTrainLoop(IterBasedTrainLoop):

    def run_iter(self, data_batch: dict) -> None:
        seed = ((self.runner.seed or 0) + 1_000_003 * self._iter) % 2 ** 31
        set_random_seed((seed + 7919 * get_rank()) % 2 ** 31, deterministic=False)
        super().run_iter(dict(data_batch, rollout_seed=seed))
