# 1 class per GPU and step, x G = 8 samples: AR-GRPO's per-GPU batch of 8 images (4 GPUs: 4
# classes, 32 images a step).
train_dataloader = dict(
    batch_size=1, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ClassPromptDataset', num_classes=1000, class_names='imagenet',
                 template='a photo of a {}.'))
