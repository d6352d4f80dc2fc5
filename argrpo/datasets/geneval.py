"""GenEval's prompts (Ghosh et al., 2023): 553 prompts in six tasks, each with the objects,
counts, colours and positions its images must show, read from GenEval's own
``prompts/evaluation_metadata.jsonl`` (one JSON object per line)."""
import json
from typing import Dict, List

from torch.utils.data import Dataset

from argrpo.registry import DATASETS

GENEVAL_TASKS = ('single_object', 'two_object', 'counting', 'colors', 'position', 'color_attr')


def read_geneval_metadata(path: str) -> List[dict]:
    """The metadata records of a GenEval jsonl file, in file order, each checked for ``tag``,
    ``prompt`` and ``include`` (a list of ``{'class', 'count'[, 'color'][, 'position']}``)."""
    try:
        with open(path, encoding='utf-8') as f:
            lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    except OSError as err:
        raise FileNotFoundError(
            f'cannot read GenEval metadata {path}: {err}. It is prompts/evaluation_metadata.jsonl of '
            'https://github.com/djghosh13/geneval') from err
    records = []
    for n, line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}:{n} is not JSON: {err}') from err
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
class GenEvalPromptDataset(Dataset):
    """GenEval's prompts, ``repeat`` images each (the official protocol: 4). Items carry the
    prompt as ``cond`` (for the text encoder) and ``prompt`` (for metrics and rewards)."""

    def __init__(self, path: str, repeat: int = 4):
        self.records, self.repeat = read_geneval_metadata(path), repeat

    def __len__(self) -> int:
        return len(self.records) * self.repeat

    @property
    def metainfo(self) -> dict:
        """MMEngine's ``dataset_meta`` of evaluators and visualizers."""
        return dict(prompts=tuple(r['prompt'] for r in self.records))

    def __getitem__(self, index: int) -> dict:
        prompt = self.records[index % len(self.records)]['prompt']
        return dict(cond=prompt, prompt=prompt, index=index)
