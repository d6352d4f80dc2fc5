"""AR-GRPO on the synthetic shapes world, from the shipped models: GRPO, evaluation before and
after, a before/after picture, the curves of the run and a results table, in minutes on a CPU.

    python tools/demo.py [--task c2i|t2i] [--variant baseline] [--seed 0] [--work-dir work_dirs/demo]
    python tools/demo.py --from-scratch [--task t2i]   # train every supervised stage first
    python tools/demo.py [--task t2i] --table          # every variant and seed run so far

The world, its judges, its configs and its model zoo live in projects/shapes_world (see its
README). The supervised stages' files are read from the zoo (projects/shapes_world/model_zoo,
checked against its manifest), from ``--models DIR``, or, with ``--from-scratch``, trained into the
work dir first, each a config of projects/shapes_world/configs run by argrpo.apis.train as
tools/train.py runs it (a stage already listed intact in the work dir's manifest is reused):
  vq          a LlamaGen VQ tokenizer of the world                    -> vq/vq.pt
  clip        a small CLIP (open_clip, contrastive)                   -> clip/clip.pth
  class-to-image (--task c2i, 12 classes: colour x shape):
  classifier  the reward classifier (timm)                            -> classifier/classifier.pth
  heldout     the held-out judge (another architecture, seed, data)   -> heldout/heldout.pth
  gpt         the supervised GPT (next-token cross-entropy)           -> gpt/gpt.pt
  text-to-image (--task t2i, 'a small red circle above a large blue square'):
  attributes          the reward's attribute classifier (4 heads)     -> attributes/attributes.pth
  heldout_attributes  the held-out attribute judge                    -> heldout_attributes/...
  gpt_t2i             the supervised text-conditional GPT             -> gpt_t2i/gpt.pt
and real images of the world (real.npz, real_t2i.npz) for FID and the distribution reward.

Then AR-GRPO on the GPT, as --variant says (grpo_<task>[_<variant>]_seed<S>/; the config evaluates
the test set every few iterations, for the curves):
  baseline             the instance rewards, rollouts without guidance (CFG 1)
  kl                   the same with a KL weight of 0.1 (the paper's c2i weight; baseline 0.01)
  guided               rollouts and evaluation samples with CFG, as the paper
  distribution         + the LeaveOneOutFID reward and adaptive entropy control
  distribution-clip    the same, FID in the world CLIP's features (c2i only)
  distribution-vq      the same, FID in the VQ tokenizer's pooled latents (c2i only)
  guided-distribution  both
  group-diversity      + each sample's gain in its prompt group's diversity (VQ layout features)
  class-fid            + LeaveOneOutFID against each class's own real images (c2i; caption-fid for t2i)
  component-norm       each reward component normalised in its group before the weighted sum
  token-credit         tokens a group shares at a position weigh less in the advantage and KL
  diverse              the last four together
argrpo.apis.evaluate (as tools/test.py) evaluates the GPT before and after GRPO on the same seeds, each
sampled as the variant samples (the "before" of a guided variant is the SFT model with CFG). Written to
the work dir: results_<tag>.md / .json (the table), before_after_<tag>.png (the same prompts and seeds,
before | after), curves_<tag>.png (reward, held-out metric, FID and diversity over the iterations).
"""
import argparse
import gc
import glob
import json
import os
import os.path as osp
import platform
import re
import sys
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmengine import Config
from mmengine.config import DictAction

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from argrpo import apis  # noqa: E402
from argrpo.apis.log_analysis import plot_scalars, read_scalars  # noqa: E402
from argrpo.registry import DATASETS  # noqa: E402
from argrpo.utils import save_png  # noqa: E402
from projects.shapes_world.shapes_world import ShapesDataset, model_zoo  # noqa: E402
from projects.shapes_world.shapes_world.figures import before_after_image  # noqa: E402

CONFIGS = osp.join(ROOT, 'projects', 'shapes_world', 'configs')
# stage name, config, exported file
SHARED = [('vq', 'shapes_vq.py', 'vq.pt'), ('clip', 'shapes_clip.py', 'clip.pth')]
TASKS = dict(
    c2i=dict(stages=SHARED + [('classifier', 'shapes_classifier.py', 'classifier.pth'),
                              ('heldout', 'shapes_heldout_classifier.py', 'heldout.pth'),
                              ('gpt', 'shapes_gpt.py', 'gpt.pt')],
             grpo=dict(baseline='shapes_grpo.py', kl='shapes_grpo_kl.py', guided='shapes_grpo_guided.py',
                       distribution='shapes_grpo_distribution.py',
                       distribution_clip='shapes_grpo_distribution_clip.py',
                       distribution_vq='shapes_grpo_distribution_vq.py',
                       guided_distribution='shapes_grpo_guided_distribution.py',
                       group_diversity='shapes_grpo_group_diversity.py', class_fid='shapes_grpo_class_fid.py',
                       component_norm='shapes_grpo_component_norm.py', token_credit='shapes_grpo_token_credit.py',
                       diverse='shapes_grpo_diverse.py'),
             sft='gpt/gpt.pt', mode='class', reference='real.npz',
             figure=(12, 6),  # prompts (rows) x samples of the before/after picture
             summary=[('heldout/accuracy_mean', 'held-out accuracy')],
             rows=[('reward/total_mean', 'reward (classifier + CLIP)'),
                   ('reward/classifier_mean', 'reward classifier probability'),
                   ('reward/clip_mean', 'CLIP cosine'),
                   ('heldout/accuracy_mean', 'held-out classifier accuracy')]),
    t2i=dict(stages=SHARED + [('attributes', 'shapes_attributes.py', 'attributes.pth'),
                              ('heldout_attributes', 'shapes_heldout_attributes.py', 'heldout_attributes.pth'),
                              ('gpt_t2i', 'shapes_gpt_t2i.py', 'gpt.pt')],
             grpo=dict(baseline='shapes_grpo_t2i.py', kl='shapes_grpo_t2i_kl.py', guided='shapes_grpo_t2i_guided.py',
                       distribution='shapes_grpo_t2i_distribution.py',
                       guided_distribution='shapes_grpo_t2i_guided_distribution.py',
                       group_diversity='shapes_grpo_t2i_group_diversity.py',
                       caption_fid='shapes_grpo_t2i_caption_fid.py',
                       component_norm='shapes_grpo_t2i_component_norm.py',
                       token_credit='shapes_grpo_t2i_token_credit.py', diverse='shapes_grpo_t2i_diverse.py'),
             sft='gpt_t2i/gpt.pt', mode='caption', reference='real_t2i.npz',
             figure=(8, 4),
             # also 32 captions that GRPO never saw: does the improvement generalise?
             novel={'test_dataloader.dataset.seed': 99},
             summary=[('heldout/geneval_all_mean', 'whole caption right'),
                      ('novel/heldout/geneval_all_mean', 'whole caption right, new captions')],
             rows=[('reward/total_mean', 'reward (attributes + CLIP)'),
                   ('reward/attributes_mean', 'reward attribute probability'),
                   ('reward/clip_mean', 'CLIP cosine')]
             + [(f'heldout/geneval_{a}_mean', f'held-out judge: {a.replace("_", " ")} right')
                for a in ('top_color', 'top_shape', 'bottom_color', 'bottom_shape')]
             + [('heldout/geneval_all_mean', 'held-out judge: whole caption right')]),
)
VARIANTS = tuple(dict.fromkeys([*TASKS['c2i']['grpo'], *TASKS['t2i']['grpo']]))  # the summary table's order
COMMON_ROWS = [('diversity', 'diversity (held-out features)'), ('FID', 'FID vs real (held-out features)')]
REAL_IMAGES, REAL_SEED = 1000, 11  # real images of the world for FID: a seed unseen in training


def option(variant: str) -> str:
    """A variant as --variant spells it (results files and tables keep the config's name)."""
    return variant.replace('_', '-')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='The synthetic AR-GRPO demo: GRPO on the shipped models')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--task', choices=sorted(TASKS), default='c2i',
                        help='class-to-image (default) or the text-to-image variant')
    parser.add_argument('--variant', choices=[option(v) for v in VARIANTS], default='baseline',
                        help='which GRPO run (see above)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the GRPO stage')
    parser.add_argument('--models', default=model_zoo.ZOO_DIR,
                        help='folder of the supervised stages\' files and their manifest (default: the model zoo)')
    parser.add_argument('--from-scratch', action='store_true',
                        help='train every supervised stage into the work dir first (and use those files)')
    parser.add_argument('--stage-iters', type=int,
                        help='with --from-scratch: iterations of every stage (a smoke test; default: the configs)')
    parser.add_argument('--grpo-iters', type=int, help='GRPO iterations (default: the config)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value overrides of the GRPO config (its run and its evaluations)')
    parser.add_argument('--table', action='store_true',
                        help='train nothing: tabulate the results_<task>_*.json of the work dir (demo_<task>.md)')
    args = parser.parse_args(argv)
    for name in ('stage_iters', 'grpo_iters'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{option(name)} must be at least 1')
    if args.stage_iters and not args.from_scratch:
        parser.error('--stage-iters needs --from-scratch')
    return args


def run_id(name: str) -> dict:
    return {'experiment_name': f'demo_{name}_{time.strftime("%H%M%S")}_{time.perf_counter_ns()}'}


def cpu_model() -> str:
    """The processor's name (speed figures depend on it), and the cores and threads used."""
    name = platform.processor() or platform.machine()
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            name = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), name)
    return f'{name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads'


def train_stage(name: str, config: str, work_dir: str, options: dict, timings: Dict[str, float]) -> None:
    started = time.perf_counter()
    print(f'[demo] stage {name}: training ({osp.relpath(config, ROOT)})', flush=True)
    runner = apis.train(apis.load_config(config, {**run_id(name), **options}, work_dir))
    del runner
    gc.collect()
    timings[name] = time.perf_counter() - started
    print(f'[demo] stage {name}: done in {timings[name]:.0f} s', flush=True)


def task_files(task: dict) -> List[str]:
    return [f'{name}/{exported}' for name, _, exported in task['stages']] + [task['reference']]


def train_from_scratch(args, task: dict, work_dir: str, timings: Dict[str, float]) -> None:
    """Every supervised stage of the task (and its real images) into ``work_dir``, each recorded in
    the work dir's manifest as the model zoo's files are; stages listed there intact are reused."""
    command = f'python tools/demo.py --from-scratch --task {args.task}'
    if args.stage_iters:
        command += f' --stage-iters {args.stage_iters}'
    provenance = dict(command=command, cpu=cpu_model())

    def intact(file: str) -> bool:
        try:
            model_zoo.check(work_dir, [file], command)
            return True
        except model_zoo.ModelZooError:
            return False

    if not intact(task['reference']):
        started = time.perf_counter()
        world = ShapesDataset(mode=task['mode'], seed=REAL_SEED)
        np.savez_compressed(osp.join(work_dir, task['reference']), arr_0=world.images(REAL_IMAGES))
        model_zoo.record(work_dir, task['reference'], config=None, seconds=round(time.perf_counter() - started, 1),
                         **provenance, note=f'{REAL_IMAGES} scenes of ShapesDataset(mode={task["mode"]!r}, '
                                            f'seed={REAL_SEED})')
    for name, config, exported in task['stages']:
        file = f'{name}/{exported}'
        if intact(file):
            print(f'[demo] stage {name}: reusing {file}', flush=True)
            continue
        options = {'train_cfg.max_iters': args.stage_iters} if args.stage_iters else {}
        train_stage(name, osp.join(CONFIGS, config), osp.join(work_dir, name), options, timings)
        model_zoo.record(work_dir, file, config=osp.relpath(osp.join(CONFIGS, config), ROOT),
                         seconds=round(timings[name], 1), **provenance)


def claim(run_dir: str, models_id: str) -> None:
    """Mark ``run_dir`` as made from the models ``models_id``; an error if it was made from others
    (a GRPO run or an evaluation is reused only for the models it was made from)."""
    marker = osp.join(run_dir, 'models.txt')
    if osp.isfile(marker):
        with open(marker) as f:
            made_from = f.read().strip()
        if made_from != models_id:
            raise SystemExit(f'{run_dir} was made from other supervised models (GPT sha256 {made_from}..., now '
                             f'{models_id}...): give another --work-dir')
        return
    os.makedirs(run_dir, exist_ok=True)
    with open(marker, 'w') as f:
        f.write(models_id + '\n')


def evaluate(config: str, checkpoint: str, work_dir: str, options: dict, timings: Dict[str, float],
             models_id: str) -> Dict[str, float]:
    """The metrics of ``checkpoint`` (every sample kept in samples.npz); reused when done before."""
    claim(work_dir, models_id)
    if osp.isfile(osp.join(work_dir, 'metrics.json')) and osp.isfile(osp.join(work_dir, 'samples.npz')):
        with open(osp.join(work_dir, 'metrics.json')) as f:
            return json.load(f)
    started = time.perf_counter()
    cfg = apis.load_config(config, {**run_id('eval'), **options}, work_dir)
    metrics = apis.evaluate(apis.evaluation_config(cfg, out='samples.npz'), checkpoint)
    gc.collect()
    timings[f'evaluation {osp.basename(work_dir)}'] = time.perf_counter() - started
    return metrics


def table(rows, before: Dict[str, float], after: Dict[str, float]) -> str:
    lines = ['| metric | before GRPO | after GRPO |', '|---|---|---|']
    lines += [f'| {label} | {before[key]:.4f} | {after[key]:.4f} |' for key, label in rows]
    return '\n'.join(lines) + '\n'


def figure_rows(dataset, prompts: int, samples: int) -> Tuple[List[List[int]], List[str]]:
    """The first ``prompts`` prompts of an evaluation set and the indices of their first
    ``samples`` samples (the set repeats each prompt; items sample from their index's seed)."""
    rows: Dict[str, List[int]] = {}
    for index in range(len(dataset)):
        prompt = dataset[index]['prompt']
        if prompt in rows or len(rows) < prompts:
            rows.setdefault(prompt, []).append(index)
    return [indices[:samples] for indices in rows.values()], list(rows)


def curves(grpo_dir: str, before: Dict[str, float], metric: Tuple[str, str], out: str) -> None:
    """Reward, the held-out metric, FID and diversity of the test set over the GRPO iterations (the
    run's evaluations; iteration 0 is the evaluation before GRPO), and the reward of each logged rollout."""
    logged = read_scalars(grpo_dir)
    keys = ['reward/total_mean', metric[0], 'FID', 'diversity']
    evaluations = {key: [(0, before[key])] + logged.get(key, []) for key in keys}
    rollouts = {'reward/total_mean': logged.get('reward_mean', [])}
    plot_scalars({'test set': evaluations, 'rollouts': rollouts}, keys, out,
                 titles=['reward', metric[1], 'FID vs real (lower is better)', 'diversity (held-out features)'])


def mean_and_error(values: Sequence[float]) -> str:
    """``mean ± standard error`` over seeds (the sample standard deviation over sqrt(n))."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return f'{values.mean():.3f}'
    return f'{values.mean():.3f} ± {values.std(ddof=1) / np.sqrt(len(values)):.3f}'


def summary_table(work_dir: str, task: str) -> str:
    """Every variant and seed run so far in ``work_dir`` (its results_<task>_*.json): the SFT model at
    each CFG scale sampled, then each GRPO variant after training, mean ± standard error over seeds.
    Runs made on other CPUs, from other models or with other GRPO lengths are not comparable: an error
    names them. The number of torch threads is not part of that: it changes a run's digits (the order
    of its sums), not the experiment."""
    runs = []
    for path in sorted(glob.glob(osp.join(work_dir, f'results_{task}_*.json'))):
        with open(path) as f:
            run = json.load(f)
        if 'models' in run:  # written before the model zoo: not comparable, left out
            runs.append(dict(run, path=osp.basename(path)))
    if not runs:
        raise FileNotFoundError(f'no results_{task}_*.json in {work_dir}: run tools/demo.py --task {task} first')
    settings = {(re.sub(r', \d+ torch threads?$', '', run['cpu']), run['models'], run.get('grpo_iters')): run['path']
                for run in runs}
    if len(settings) > 1:
        raise ValueError(f'results of different CPUs, models or --grpo-iters in {work_dir}, e.g. '
                         + '; '.join(f'{path}: {setting}' for setting, path in settings.items()))
    runs.sort(key=lambda run: run['seed'])
    columns = TASKS[task]['summary'] + [('FID', 'FID'), ('diversity', 'diversity'),
                                        ('reward/total_mean', 'reward')]
    lines = ['| model | CFG | GPT passes per token | GRPO seeds | ' + ' | '.join(label for _, label in columns) + ' |',
             '|---' * (len(columns) + 4) + '|']

    def row(name, scale, seeds, metrics):
        values = ' | '.join(mean_and_error([m[key] for m in metrics]) for key, _ in columns)
        return f'| {name} | {scale:g} | {2 if scale > 1 else 1} | {seeds} | {values} |'

    for scale in sorted({run['cfg_scale'] for run in runs}):  # the SFT model is sampled with fixed seeds
        before = [run['before'] for run in runs if run['cfg_scale'] == scale]
        if any(b != before[0] for b in before):
            raise ValueError(f'the SFT model at CFG {scale:g} was evaluated differently in {work_dir}\'s runs')
        lines.append(row('SFT', scale, '-', before[:1]))
    for variant in VARIANTS:
        group = [run for run in runs if run['variant'] == variant]
        if group:
            seeds = ', '.join(str(run['seed']) for run in group)
            lines.append(row(f'GRPO {option(variant)}', group[0]['cfg_scale'], seeds, [run['after'] for run in group]))
    return '\n'.join(lines) + '\n'


def main(argv=None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    work_dir, task, variant = osp.abspath(args.work_dir), TASKS[args.task], args.variant.replace('-', '_')
    if variant not in task['grpo']:
        raise SystemExit(f'--variant {args.variant} is not defined for --task {args.task}: '
                         f'{", ".join(option(v) for v in task["grpo"])}')
    if args.table:
        table_md = summary_table(work_dir, args.task)
        with open(osp.join(work_dir, f'demo_{args.task}.md'), 'w') as f:
            f.write(table_md)
        print(table_md, flush=True)
        return {}
    os.makedirs(work_dir, exist_ok=True)
    started, timings = time.perf_counter(), {}
    models = work_dir if args.from_scratch else osp.abspath(args.models)
    os.environ['ARGRPO_SHAPES_MODELS'] = models  # where the configs read the stages' files
    os.environ['ARGRPO_DEMO_DIR'] = work_dir  # where they cache features of the real images
    if args.from_scratch:
        train_from_scratch(args, task, work_dir, timings)
    else:
        model_zoo.check(models, task_files(task), f'python tools/demo.py --from-scratch --task {args.task}')
        print(f'[demo] supervised stages: {models} (checked against its manifest)', flush=True)

    sft = osp.join(models, task['sft'])
    models_id = model_zoo.sha256(sft)[:16]
    tag = f'{args.task}_seed{args.seed}' if variant == 'baseline' else f'{args.task}_{variant}_seed{args.seed}'
    grpo_config, grpo_dir = osp.join(CONFIGS, task['grpo'][variant]), osp.join(work_dir, f'grpo_{tag}')
    model = Config.fromfile(grpo_config).model
    cfg_scale = (model.get('eval_sampler') or model.sampler).get('cfg_scale', 1.0)  # of the evaluation
    grpo_options = {**args.cfg_options, 'randomness.seed': args.seed}
    if args.grpo_iters:
        grpo_options.update({'train_cfg.max_iters': args.grpo_iters,
                             'default_hooks.checkpoint.interval': args.grpo_iters})
    last = osp.join(grpo_dir, 'last_checkpoint')
    claim(grpo_dir, models_id)
    if not osp.isfile(last):
        train_stage('grpo', grpo_config, grpo_dir, grpo_options, timings)
    with open(last) as f:
        grpo_checkpoint = f.read().strip()

    # the SFT model sampled as this variant samples (with its CFG scale), shared by variants and seeds
    before_dir = osp.join(work_dir, f'eval_{args.task}_before' + (f'_cfg{cfg_scale:g}' if cfg_scale > 1 else ''))
    after_dir = osp.join(work_dir, f'eval_{tag}')
    before = evaluate(grpo_config, sft, before_dir, args.cfg_options, timings, models_id)
    after = evaluate(grpo_config, grpo_checkpoint, after_dir, args.cfg_options, timings, models_id)
    rows = task['rows'] + COMMON_ROWS
    if 'novel' in task:
        options = {**args.cfg_options, **task['novel']}
        novel_before = evaluate(grpo_config, sft, before_dir + '_novel', options, timings, models_id)
        novel_after = evaluate(grpo_config, grpo_checkpoint, after_dir + '_novel', options, timings, models_id)
        before.update({f'novel/{k}': v for k, v in novel_before.items()})
        after.update({f'novel/{k}': v for k, v in novel_after.items()})
        rows = rows + [(f'novel/{key}', f'{label}, new captions') for key, label in task['rows'] if 'heldout' in key]

    cfg = apis.load_config(grpo_config, args.cfg_options)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    picture = osp.join(work_dir, f'before_after_{tag}.png')
    indices, labels = figure_rows(dataset, *task['figure'])
    save_png(before_after_image(np.load(osp.join(before_dir, 'samples.npz'))['arr_0'],
                                np.load(osp.join(after_dir, 'samples.npz'))['arr_0'], indices, labels), picture)
    plot = osp.join(work_dir, f'curves_{tag}.png')
    curves(grpo_dir, before, task['summary'][0], plot)

    timings['in all'] = time.perf_counter() - started
    cpu = cpu_model()
    result = table(rows, before, after)
    stages = ', '.join(f'{name} {seconds:.0f} s' for name, seconds in timings.items())
    with open(osp.join(work_dir, f'results_{tag}.md'), 'w') as f:
        f.write(f'{result}\nCPU: {cpu}. Seconds (stages run now; reused ones are not listed): {stages}.\n')
    with open(osp.join(work_dir, f'results_{tag}.json'), 'w') as f:
        json.dump(dict(task=args.task, variant=variant, seed=args.seed, cfg_scale=cfg_scale,
                       models=models_id, stage_iters=args.stage_iters, grpo_iters=args.grpo_iters,
                       before=before, after=after, cpu=cpu, seconds=timings), f, indent=2)
    print(f'\n[demo] {args.task}, {args.variant} GRPO, seed {args.seed}, on {cpu}\n[demo] seconds: {stages}\n{result}'
          f'[demo] before/after: {picture}\n[demo] curves: {plot}', flush=True)
    return dict(before=before, after=after)


if __name__ == '__main__':
    main()
