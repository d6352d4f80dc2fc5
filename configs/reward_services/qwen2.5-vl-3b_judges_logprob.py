# The same three judges scored from one forward each, without generation (mode='logprob',
# VQAScore-style): the 5-aspect judge is the expected first digit of the answer (0-5, / 4), each
# yes/no judge P(no) / (P(yes) + P(no)). Deterministic, never unreadable, several times cheaper
# than sampling an answer; the default for new configs. The questions ask for the bare answer
# first, since only the first answer token is read.
_base_ = ['./qwen2.5-vl-3b_judges.py']
reward = dict(
    mode='logprob',
    questions=[
        dict(name='quality', answer='score', max_score=5, scale=0.25, weight=1.0,
             prompt='This image was generated for the prompt: "{prompt}". Count how many of these hold: '
                    'it matches the prompt; the main subject is complete; it is real and reasonable; it is '
                    'clear; it is free of artefacts and distortions. Answer with one digit from 0 to 5.'),
        dict(name='not_ai_generated', answer='no', weight=1.0,
             prompt='Is this image AI-generated? Answer yes or no.'),
        dict(name='no_strange_feature', answer='no', weight=1.0,
             prompt='Is there any strange or unnatural feature in this image? Answer yes or no.'),
    ])
