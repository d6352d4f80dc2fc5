"""Reading prompt files (one caption per line)."""
from typing import List


def read_prompts(path: str) -> List[str]:
    try:
        with open(path, encoding='utf-8') as f:
            prompts = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f'cannot read prompt file {path}: {err}') from err
    if not prompts:
        raise ValueError(f'prompt file {path} holds no prompts (one per line)')
    return prompts
