"""GenEval's prompts (Ghosh et al., 2023): 553 prompts in six tasks, each with the objects,
counts, colours and positions its images must show, read from GenEval's own
``prompts/evaluation_metadata.jsonl`` (one JSON object per line)."""
from typing import Dict, List

from argrpo.registry import DATASETS
from argrpo.utils import read_jsonl
from .prompts import PromptFileDataset

GENEVAL_TASKS = ('single_object', 'two_object', 'counting', 'colors', 'position', 'color_attr')
HOW_TO_GET = ("GenEval's own prompts are prompts/evaluation_metadata.jsonl of https://github.com/djghosh13/geneval; "
              'prompts of your own (e.g. for training) take its format: one JSON object a line with tag, prompt, '
              'include[, exclude].')


def read_geneval_metadata(path: str) -> List[dict]:
    """The metadata records of a GenEval jsonl file, in file order, each checked for ``tag``,
    ``prompt`` and ``include`` (a list of ``{'class', 'count'[, 'color'][, 'position']}``)."""
    records = []
    for n, record, line in read_jsonl(path, 'GenEval metadata', HOW_TO_GET):
        if not isinstance(record, dict) or not {'tag', 'prompt', 'include'} <= set(record):
            raise ValueError(f'{path}:{n} needs "tag", "prompt" and "include": {line.strip()[:200]}')
        if not record['include'] or not all(isinstance(o, dict) and {'class', 'count'} <= set(o)
                                            for o in record['include'] + record.get('exclude', [])):
            raise ValueError(f'{path}:{n}: every object of "include" / "exclude" needs "class" and "count"')
        records.append(record)
    if not records:
        raise ValueError(f'GenEval metadata {path} holds no prompts')
    return records


def metadata_by_prompt(path: str) -> Dict[str, dict]:
    """``{prompt: metadata}`` of a GenEval file: what a metric or reward, which see only the
    prompt of a sample, look its requirements up by. Prompts must be unique."""
    records = read_geneval_metadata(path)
    table = {r['prompt']: r for r in records}
    if len(table) != len(records):
        raise ValueError(f'{path} repeats prompts; GenEval requirements are looked up by prompt')
    return table


@DATASETS.register_module()
class GenEvalPromptDataset(PromptFileDataset):
    """GenEval's prompts, ``repeat`` images each (the official protocol: 4); items as
    ``PromptFileDataset``'s: the prompt as ``cond`` (for the text encoder) and ``prompt`` (for
    metrics and rewards). ``records``: the metadata, in file order."""

    def __init__(self, path: str, repeat: int = 4):
        self.records = read_geneval_metadata(path)  # in place of PromptFileDataset's text file
        self.prompts, self.repeat = [r['prompt'] for r in self.records], repeat
