# Stage 4 with every piece of issue 22 at once: the group diversity reward
# (shapes_grpo_group_diversity.py), the class-conditional distribution reward
# (shapes_grpo_class_fid.py), per-component advantages and token credit from the group. With
# per-component advantages each reward counts by its weight alone, whatever its scale: 1 for each
# instance reward, 0.5 for each diversity reward.
_base_ = ['./shapes_grpo.py']
model = dict(
    algorithm=dict(component_norm=True,
                   token_credit=dict(match='exact', strength=1.0, power=1.0, min_weight=0.1)),
    reward=dict(_delete_=True, type='WeightedSum', rewards=[
        {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo.py
        dict(type='GroupDiversity', name='diversity', weight=0.5, statistics=dict(distance=1.0),
             feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
        dict(type='ConditionalLeaveOneOutFID', name='fid_class', weight=0.5, ema=0.9,
             reference=dict(type='ShapesDataset', mode='class', length=1200, seed=17),
             class_names=_base_.train_dataloader.dataset.class_names,
             template=_base_.train_dataloader.dataset.template,
             feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
    ]))
