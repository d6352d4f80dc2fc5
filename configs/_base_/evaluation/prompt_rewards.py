# Text-to-image evaluation as in AR-GRPO: reward models on the samples of a prompt set given as
# a local file (DrawBench: 200 prompts x 4; GenEval's 553 prompts x 4 for its own evaluator,
# exported with tools/test.py --out). The same set during training (train_cfg.val_interval).
test_dataloader = dict(
    batch_size=16, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='PromptFileDataset', path='data/drawbench/prompts.txt', repeat=4))
test_evaluator = [
    dict(type='RewardMetric', prefix='clip', reward=dict(
        type='CLIPScore', name='clip', arch='ViT-B-32-quickgelu', checkpoint='checkpoints/clip/ViT-B-32-openai.bin')),
    dict(type='RewardMetric', prefix='hps', reward=dict(
        type='HPSv2', name='hps', checkpoint='checkpoints/hps/HPS_v2.1_compressed.pt')),
]
test_cfg = dict(type='TestLoop')
val_dataloader, val_evaluator, val_cfg = test_dataloader, test_evaluator, dict(type='ValLoop')
