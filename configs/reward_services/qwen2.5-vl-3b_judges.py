# AR-GRPO's realism judges: Qwen2.5-VL-3B-Instruct asked three questions about each image, its
# sampled answers parsed (mode='generate', the paper's). The 5-aspect judge's total (0-5) is
# divided by 4, as the paper does; the yes/no judges score 1 for 'no'. The question texts are
# written after the paper's reference prompts; change them here.
#
# In the training process: configs/argrpo/argrpo_llamagen-xl_t2i_256_qwen-judges.py.
# As a service (another GPU or environment), for configs/argrpo/*_qwen-judges-service.py:
#   python tools/reward_server.py configs/reward_services/qwen2.5-vl-3b_judges.py --port 8600 --device cuda:1
# Weights: a local directory (never a hub), e.g. on a machine with internet
#   huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct --local-dir checkpoints/Qwen2.5-VL-3B-Instruct
reward = dict(
    type='VLMJudge',
    name='vlm',
    backend=dict(type='TransformersVLM', path='checkpoints/Qwen2.5-VL-3B-Instruct', dtype='bfloat16',
                 batch_size=8),
    mode='generate',
    temperature=1.0,
    max_new_tokens=96,
    unreadable_score=0.0,
    questions=[
        dict(name='quality', answer='score', max_score=5, scale=0.25, weight=1.0,
             prompt='This image was generated for the prompt: "{prompt}". Judge five aspects, each 0 or 1: '
                    'does it match the prompt; is the main subject complete; is it real and reasonable; '
                    'is it clear; is it free of artefacts and distortions. Answer in JSON only: '
                    '{"match": 0 or 1, "complete": 0 or 1, "real": 0 or 1, "clear": 0 or 1, '
                    '"no_artefacts": 0 or 1, "total": the sum}'),
        dict(name='not_ai_generated', answer='no', weight=1.0,
             prompt='Is this image AI-generated? Answer yes or no.'),
        dict(name='no_strange_feature', answer='no', weight=1.0,
             prompt='Is there any strange or unnatural feature in this image? Answer yes or no.'),
    ])
