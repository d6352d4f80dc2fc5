# Stage 4 with a class-conditional distribution reward (issue 22): shapes_grpo.py's instance
# rewards plus ConditionalLeaveOneOutFID, each sample's leave-one-out Frechet distance of its own
# class's samples to real images of that class alone, with running moments per class. The real
# images: 1200 scenes of the world's class-to-image data set drawn from a seed of their own (about
# 100 per class), their prompts made from the labels as the training prompts are ('a red circle');
# features: the world VQ tokenizer's codebook vectors pooled to a 4 x 4 layout (TokenizerFeatures,
# 128-d: layout, size, background; never the held-out judge), computed on the first iteration.
# Scale: 8 samples against a class's own real statistics move them far more than 32 samples move
# the batch's: on the zoo's SFT model the logged fid_class_std is 0.13-0.2 at scale 1 (7 at 50),
# beside the instance rewards' 0.2-0.37; check it as the run goes.
_base_ = ['./shapes_grpo.py']
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo.py
    dict(type='ConditionalLeaveOneOutFID', name='fid_class', ema=0.9, scale=1.0,
         reference=dict(type='ShapesDataset', mode='class', length=1200, seed=17),
         class_names=_base_.train_dataloader.dataset.class_names,
         template=_base_.train_dataloader.dataset.template,
         feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
]))
