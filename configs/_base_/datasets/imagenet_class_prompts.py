# 4 classes per GPU and step (x 8 samples each), as AR-GRPO's 4 GPUs x 8 images.
train_dataloader = dict(
    batch_size=1, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ClassPromptDataset', num_classes=1000, class_names='imagenet',
                 template='a photo of a {}.'))
