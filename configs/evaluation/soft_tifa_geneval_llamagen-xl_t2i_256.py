# Soft-TIFA (GenEval 2's VQA scoring) of LlamaGen-XL text-to-image at 256 px on GenEval's 553
# prompts x 4 images: each prompt's requirements become yes/no questions (objects, counts,
# colours, positions) that Qwen2.5-VL answers; per image the mean P(yes) (soft_tifa, Soft-TIFA
# AM), its geometric mean (soft_tifa/gm, Soft-TIFA GM) and the fraction answered yes
# (soft_tifa/hard). GenEval 2 used Qwen3-VL-8B-Instruct; any local AutoModelForImageTextToText
# directory serves. Questions of your own: questions='PATH.jsonl' in place of metadata=.
#   python tools/test.py configs/evaluation/soft_tifa_geneval_llamagen-xl_t2i_256.py CHECKPOINT
# Files: GenEval's prompts/evaluation_metadata.jsonl (github.com/djghosh13/geneval) and a local
#   huggingface-cli download Qwen/Qwen2.5-VL-7B-Instruct --local-dir checkpoints/Qwen2.5-VL-7B-Instruct
_base_ = ['../argrpo/argrpo_llamagen-xl_t2i_256.py']
geneval_metadata = 'data/geneval/evaluation_metadata.jsonl'
test_dataloader = dict(
    dataset=dict(_delete_=True, type='GenEvalPromptDataset', path=geneval_metadata, repeat=4))
test_evaluator = [
    dict(type='RewardMetric', prefix='soft_tifa', reward=dict(
        type='SoftTIFA', metadata=geneval_metadata,
        backend=dict(type='TransformersVLM', path='checkpoints/Qwen2.5-VL-7B-Instruct', dtype='bfloat16',
                     batch_size=16))),
]
