from .grpo_train_loop import GRPOTrainLoop

__all__ = ['GRPOTrainLoop']
