# LlamaGen GPT-3B at 384 px (576 tokens, c2i_3B_384.pt) with the paper's GRPO settings, sharded
# with FSDP: meant for 4 GPUs of 80 GB (bash tools/dist_train.sh CONFIG 4). A float32 GPT-3B with
# AdamW, its reference and the rewards plans at 108 GiB per GPU under DDP; sharded over 4 GPUs,
# with the blocks recomputed in backward and the head scored 64 positions at a time, it plans
# well under 80 (python tools/memory_plan.py CONFIG --gpus 4). 8 GPUs: the same config, twice the
# global batch.
_base_ = './argrpo_llamagen-b_c2i_256.py'
model = dict(generator=dict(arch='GPT-3B', block_size=576, activation_checkpointing=True,
                            checkpoint='checkpoints/llamagen/c2i_3B_384.pt'),
             rollout_chunk=8, log_prob_chunk=64)
model_wrapper_cfg = dict(type='argrpo.GRPOFullyShardedDataParallel')
