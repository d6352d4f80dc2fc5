# One caption per line (AR-GRPO uses 30k COCO captions); 2 captions per GPU x 8 samples each.
train_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='PromptFileDataset', path='data/coco/captions_30k.txt'))
