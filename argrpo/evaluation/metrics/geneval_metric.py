"""GenEval as an evaluation metric: each sample judged by GenEval's rules
(``argrpo.evaluation.geneval``), the per-image results written in the official results format
(``summary_scores.py`` of djghosh13/geneval reads them), and GenEval's table: the accuracy of
each task, the overall score (the mean of the task accuracies), the images and prompts correct."""
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from argrpo.datasets.geneval import GENEVAL_TASKS
from argrpo.registry import METRICS
from argrpo.utils import atomic_write
from ..geneval import ColourClassifier, GenEvalJudge


TOTALS = ('overall', 'images_correct', 'prompts_correct')


@METRICS.register_module()
class GenEvalMetric(BaseMetric):
    """Args:
        metadata, detector, colour_classifier, rules: those of ``GenEvalJudge``.
        results_file: where the per-image results go (jsonl, one image a line, in dataset
            order); a relative path lies in the run's log directory (beside its log), or the
            working directory outside a run. None: not written.

    Each result's ``filename`` is where GenEval's own layout keeps the image,
    ``<prompt line>/samples/<sample>.png``, for ``GenEvalPromptDataset`` indices.
    """

    default_prefix = 'geneval'

    def __init__(self, metadata: str, detector: dict, colour_classifier: Union[dict, ColourClassifier, None] = None,
                 rules: Optional[dict] = None, results_file: Optional[str] = 'geneval_results.jsonl',
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.judge = GenEvalJudge(metadata, detector, colour_classifier, rules)
        self.lines = {prompt: line for line, prompt in enumerate(self.judge.metadata)}
        self.results_file = results_file

    @torch.no_grad()
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        images = torch.stack([sample['image'] for sample in data_samples])
        prompts = [sample['prompt'] for sample in data_samples]
        self.judge.to(images.device)
        for sample, prompt, verdict in zip(data_samples, prompts, self.judge(images, prompts)):
            index = int(sample['index'])
            record = self.judge.metadata[prompt]
            self.results.append(dict(
                index=index, filename=f'{self.lines[prompt]:05d}/samples/{index // len(self.lines):04d}.png',
                tag=record['tag'], prompt=prompt, correct=verdict.correct, reason=verdict.reason,
                metadata=json.dumps(record), details=json.dumps(verdict.details)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        # the processes' parts in dataset order, each sample once (as SampleExport merges them)
        results = sorted({r['index']: r for r in results}.values(), key=lambda r: r['index'])
        if self.results_file is not None:
            self.write_results(results)
        metrics = summarize(results)
        print_log('\n' + format_table(metrics, results), logger='current')
        return metrics

    def write_results(self, results: List[dict]) -> None:
        path = self.results_file
        log_file = MMLogger.get_current_instance().log_file
        if not osp.isabs(path) and log_file:
            path = osp.join(osp.dirname(log_file), path)
        lines = ''.join(json.dumps({k: v for k, v in r.items() if k != 'index'}) + '\n' for r in results)
        atomic_write(path, lambda f: f.write(lines.encode('utf-8')))
        print_log(f'GenEval results of {len(results)} images: {path}', logger='current')


def summarize(results: Sequence[dict]) -> Dict[str, float]:
    """GenEval's scores of results-file records: each task's accuracy (the tasks present, in
    GenEval's order), ``overall`` (their mean), ``images_correct`` and ``prompts_correct`` (the
    prompts with at least one correct image)."""
    by_task, by_prompt = defaultdict(list), defaultdict(list)
    for r in results:
        by_task[r['tag']].append(bool(r['correct']))
        by_prompt[r['prompt']].append(bool(r['correct']))
    tasks = [t for t in GENEVAL_TASKS if t in by_task] + sorted(set(by_task) - set(GENEVAL_TASKS))
    metrics = {task: sum(by_task[task]) / len(by_task[task]) for task in tasks}
    metrics['overall'] = sum(metrics.values()) / len(tasks)
    metrics['images_correct'] = sum(bool(r['correct']) for r in results) / len(results)
    metrics['prompts_correct'] = sum(any(c) for c in by_prompt.values()) / len(by_prompt)
    return metrics


def format_table(metrics: Dict[str, float], results: Sequence[dict]) -> str:
    """GenEval's table as text: the tasks with their counts, the overall score, the totals."""
    counts = {task: [0, 0] for task in metrics if task not in TOTALS}
    for r in results:
        counts[r['tag']][0] += bool(r['correct'])
        counts[r['tag']][1] += 1
    prompts = len({r['prompt'] for r in results})
    rows = [f'GenEval: {len(results)} images of {prompts} prompts', f'{"task":<16} {"accuracy":>9}  correct / images']
    rows += [f'{task:<16} {metrics[task]:>9.2%}  {counts[task][0]} / {counts[task][1]}' for task in counts]
    rows += [f'{"overall":<16} {metrics["overall"]:>9.5f}  (mean of the {len(counts)} tasks)',
             f'{"images correct":<16} {metrics["images_correct"]:>9.2%}',
             f'{"prompts correct":<16} {metrics["prompts_correct"]:>9.2%}  (at least one image correct)']
    return '\n'.join(rows)
