"""Reading prompt files: one caption a line, or one JSON object a line (GenEval's metadata,
Soft-TIFA's questions)."""
import json
from typing import Any, List, Tuple


def read_prompts(path: str) -> List[str]:
    try:
        with open(path, encoding='utf-8') as f:
            prompts = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f'cannot read prompt file {path}: {err}') from err
    if not prompts:
        raise ValueError(f'prompt file {path} holds no prompts (one per line)')
    return prompts


def read_jsonl(path: str, what: str, how_to_get: str = '') -> List[Tuple[int, Any, str]]:
    """``(line number, parsed object, line)`` of each non-blank line of a jsonl file; a file that
    cannot be read is a ``FileNotFoundError`` naming ``what``, the path and ``how_to_get``, a line
    that is not JSON a ``ValueError`` naming ``path:line``."""
    try:
        with open(path, encoding='utf-8') as f:
            lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    except OSError as err:
        raise FileNotFoundError(f'cannot read {what} {path}: {err}. {how_to_get}'.strip()) from err
    records = []
    for n, line in lines:
        try:
            records.append((n, json.loads(line), line))
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}:{n} is not JSON: {err}') from err
    return records
