# AR-GRPO text-to-image on GenEval-style prompts, rewarded by GenEval's rules (partial credit:
# the fraction of a prompt's requirements that hold, as Flow-GRPO) with the paper's CLIP x5 and
# HPS v2.1 x5. The prompts and the reward read the same metadata file: GenEval's format (tag,
# prompt, include[, exclude]), e.g. Flow-GRPO's training prompts, kept apart from GenEval's 553
# test prompts. Evaluate with configs/evaluation/geneval_llamagen-xl_t2i_256.py.
# The detector in its own process or GPU: serve configs/reward_services/geneval_mask2former.py and
# put dict(type='RemoteReward', name='geneval_remote', url='http://127.0.0.1:8601') in place of
# GenEvalReward (docs/user_guides/geneval.md).
_base_ = ['./argrpo_llamagen-xl_t2i_256.py', '../reward_services/geneval_mask2former.py']
train_dataloader = dict(
    dataset=dict(_delete_=True, type='GenEvalPromptDataset', path={{_base_.reward.metadata}}, repeat=1))
model = dict(
    reward=dict(
        _delete_=True,
        type='WeightedSum',
        rewards=[
            {{_base_.reward}},
            dict(type='CLIPScore', name='clip', arch='ViT-B-32-quickgelu', scale=5.0,
                 checkpoint='checkpoints/clip/ViT-B-32-openai.bin'),
            dict(type='HPSv2', name='hps', scale=5.0, checkpoint='checkpoints/hps/HPS_v2.1_compressed.pt'),
        ]))
reward = None  # the service's base sets a top-level reward; here it lives in model.reward
