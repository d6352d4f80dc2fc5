# GenEval (Ghosh et al., 2023) of LlamaGen-XL text-to-image at 256 px: its 553 prompts x 4
# images, each judged by GenEval's rules (argrpo/evaluation/geneval.py) with its Mask2Former
# detector in transformers (no mmcv) and CLIP ViT-L/14 for colours. Prints GenEval's table (six
# tasks, overall = their mean, images and prompts correct) and writes the per-image results in
# the official format (geneval_results.jsonl beside the run's log; summary_scores.py reads it).
#   python tools/test.py configs/evaluation/geneval_llamagen-xl_t2i_256.py CHECKPOINT
#   bash tools/dist_test.sh configs/evaluation/geneval_llamagen-xl_t2i_256.py CHECKPOINT 8
# Files (docs/user_guides/geneval.md): GenEval's prompts/evaluation_metadata.jsonl
# (github.com/djghosh13/geneval); the detector as a transformers directory, converted from
# GenEval's official mmdet checkpoint (docs/advanced/mmdet_conversion.md); OpenAI's CLIP ViT-L/14
# weights in one file, built as open_clip's 'ViT-L-14-quickgelu'.
_base_ = ['../argrpo/argrpo_llamagen-xl_t2i_256.py']
geneval_metadata = 'data/geneval/evaluation_metadata.jsonl'
test_dataloader = dict(
    dataset=dict(_delete_=True, type='GenEvalPromptDataset', path=geneval_metadata, repeat=4))
test_evaluator = [
    dict(type='GenEvalMetric', metadata=geneval_metadata,
         detector=dict(type='Mask2FormerDetector', checkpoint='checkpoints/geneval/mask2former_swin-s_coco_hf'),
         colour_classifier=dict(arch='ViT-L-14-quickgelu', checkpoint='checkpoints/clip/ViT-L-14-openai.bin'),
         results_file='geneval_results.jsonl'),
]
