# Class-to-image evaluation as in LlamaGen and AR-GRPO: the ADM evaluator's FID, sFID, IS,
# precision and recall against the ImageNet reference batch, plus the CLIP score of the samples.
# tools/test.py: 50 images per class (50k). During training (train_cfg.val_interval): 10 per class.
test_dataloader = dict(
    batch_size=25, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ClassPromptDataset', num_classes=1000, class_names='imagenet',
                 template='a photo of a {}.', repeat=50))
test_evaluator = [
    dict(type='DistributionMetrics',
         feature_extractor=dict(type='FIDInception',
                                checkpoint='checkpoints/fid/pt_inception-2015-12-05-6726825d.pth'),
         # from the guided-diffusion evaluations (ADM); features are cached next to it
         reference='data/imagenet/VIRTUAL_imagenet256_labeled.npz'),
    dict(type='RewardMetric', reward=dict(type='CLIPScore', name='clip', arch='ViT-B-32-quickgelu',
                                          checkpoint='checkpoints/clip/ViT-B-32-openai.bin')),
]
test_cfg = dict(type='TestLoop')
val_dataloader = dict(test_dataloader, dataset=dict(test_dataloader['dataset'], repeat=10))
val_evaluator = test_evaluator
val_cfg = dict(type='ValLoop')
