# The paper's judges answered by an OpenAI-compatible server instead of an in-process model:
#   vllm serve checkpoints/Qwen2.5-VL-3B-Instruct --served-model-name Qwen2.5-VL-3B-Instruct --port 8000
# (or SGLang). Bounded retries with backoff; an unreachable server is an error naming the URL. An
# API key (vllm serve --api-key) comes from $ARGRPO_VLM_API_KEY, never from this file (api_key= is
# refused). Both modes work with vLLM or SGLang; 'logprob' needs them (they return top_logprobs):
# `transformers serve` does 'generate' only.
_base_ = ['./qwen2.5-vl-3b_judges.py']
reward = dict(backend=dict(_delete_=True, type='OpenAIVLM', base_url='http://127.0.0.1:8000/v1',
                           model='Qwen2.5-VL-3B-Instruct', timeout=120, max_retries=3, backoff=2.0))
