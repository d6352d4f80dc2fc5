"""AR-GRPO end to end on the synthetic shapes world: a small, real instance of the whole pipeline
that trains and improves on a laptop CPU in minutes.

    python tools/demo.py [--task c2i|t2i] [--variant baseline] [--work-dir work_dirs/demo] [--seed 0] [--quick]
    python tools/demo.py [--task t2i] --table  # every variant and seed run so far, mean and standard error

The world, its judges and its configs live in projects/shapes_world (see its README). Stages,
each a config of projects/shapes_world/configs trained by argrpo.apis.train, as tools/train.py
does (a stage whose exported weights exist is reused, so a second run with another --seed only
repeats GRPO):
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
  grpo        AR-GRPO on the GPT, as --variant says                   -> grpo_<task>[_<variant>]_seed<S>/
                baseline             the instance rewards, rollouts without guidance (CFG 1)
                kl                   the same with a KL weight of 0.1 (the paper's c2i weight; baseline 0.01)
                guided               rollouts and evaluation samples with CFG, as the paper
                distribution         + the LeaveOneOutFID reward and adaptive entropy control
                distribution-clip    the same, FID in the world CLIP's features (c2i only)
                distribution-vq      the same, FID in the VQ tokenizer's pooled latents (c2i only)
                guided-distribution  both
Then argrpo.apis.evaluate (as tools/test.py) evaluates the GPT before and after GRPO on the same seeds, each
sampled as the variant samples (the "before" of a guided variant is the SFT model with CFG), and writes a
before/after table (results_<task>[_<variant>]_seed<S>.md / .json) and sample grids (eval_*/samples_grid.png).
``--quick`` shortens every stage (the test suite's version: a weaker SFT model, so other numbers than the full
stages', with more noise).
"""
import argparse
import gc
import glob
import json
import os
import os.path as osp
import platform
import sys
import time
from typing import Dict, Sequence

import numpy as np
import torch
from mmengine import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from argrpo import apis  # noqa: E402
from projects.shapes_world.shapes_world import ShapesDataset  # noqa: E402

CONFIGS = osp.join(ROOT, 'projects', 'shapes_world', 'configs')
# stage name, config, exported file, iterations in --quick mode
SHARED = [('vq', 'shapes_vq.py', 'vq.pt', 330), ('clip', 'shapes_clip.py', 'clip.pth', 250)]
TASKS = dict(
    c2i=dict(stages=SHARED + [('classifier', 'shapes_classifier.py', 'classifier.pth', 250),
                              ('heldout', 'shapes_heldout_classifier.py', 'heldout.pth', 320),
                              ('gpt', 'shapes_gpt.py', 'gpt.pt', 560)],
             grpo=dict(baseline='shapes_grpo.py', kl='shapes_grpo_kl.py', guided='shapes_grpo_guided.py',
                       distribution='shapes_grpo_distribution.py',
                       distribution_clip='shapes_grpo_distribution_clip.py',
                       distribution_vq='shapes_grpo_distribution_vq.py',
                       guided_distribution='shapes_grpo_guided_distribution.py'),
             sft='gpt/gpt.pt', mode='class', reference='real.npz',
             summary=[('heldout/accuracy_mean', 'held-out accuracy')],
             rows=[('reward/total_mean', 'reward (classifier + CLIP)'),
                   ('reward/classifier_mean', 'reward classifier probability'),
                   ('reward/clip_mean', 'CLIP cosine'),
                   ('heldout/accuracy_mean', 'held-out classifier accuracy')]),
    t2i=dict(stages=SHARED + [('attributes', 'shapes_attributes.py', 'attributes.pth', 300),
                              ('heldout_attributes', 'shapes_heldout_attributes.py', 'heldout_attributes.pth', 400),
                              ('gpt_t2i', 'shapes_gpt_t2i.py', 'gpt.pt', 400)],
             grpo=dict(baseline='shapes_grpo_t2i.py', kl='shapes_grpo_t2i_kl.py', guided='shapes_grpo_t2i_guided.py',
                       distribution='shapes_grpo_t2i_distribution.py',
                       guided_distribution='shapes_grpo_t2i_guided_distribution.py'),
             sft='gpt_t2i/gpt.pt', mode='caption', reference='real_t2i.npz',
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
VARIANTS = tuple(TASKS['c2i']['grpo'])  # in the order of the summary table
COMMON_ROWS = [('diversity', 'diversity (held-out features)'), ('FID', 'FID vs real (held-out features)')]


def option(variant: str) -> str:
    """A variant as --variant spells it (results files and tables keep the config's name)."""
    return variant.replace('_', '-')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='The synthetic AR-GRPO demo, end to end')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--task', choices=sorted(TASKS), default='c2i',
                        help='class-to-image (default) or the text-to-image variant')
    parser.add_argument('--variant', choices=[option(v) for v in VARIANTS], default='baseline',
                        help='which GRPO run (see above)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the GRPO stage')
    parser.add_argument('--quick', action='store_true', help='shortened stages (tests)')
    parser.add_argument('--grpo-iters', type=int, help='GRPO iterations (default: the config)')
    parser.add_argument('--table', action='store_true',
                        help='train nothing: tabulate the results_<task>_*.json of the work dir (demo_<task>.md)')
    return parser.parse_args(argv)


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


def evaluate(config: str, checkpoint: str, work_dir: str, options: dict,
             timings: Dict[str, float]) -> Dict[str, float]:
    if osp.isfile(osp.join(work_dir, 'metrics.json')):
        with open(osp.join(work_dir, 'metrics.json')) as f:
            return json.load(f)
    started = time.perf_counter()
    cfg = apis.load_config(config, {**run_id('eval'), **options}, work_dir)
    metrics = apis.evaluate(apis.evaluation_config(cfg), checkpoint)
    gc.collect()
    timings[f'evaluation {osp.basename(work_dir)}'] = time.perf_counter() - started
    return metrics


def table(rows, before: Dict[str, float], after: Dict[str, float]) -> str:
    lines = ['| metric | before GRPO | after GRPO |', '|---|---|---|']
    lines += [f'| {label} | {before[key]:.4f} | {after[key]:.4f} |' for key, label in rows]
    return '\n'.join(lines) + '\n'


def mean_and_error(values: Sequence[float]) -> str:
    """``mean ± standard error`` over seeds (the sample standard deviation over sqrt(n))."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return f'{values.mean():.3f}'
    return f'{values.mean():.3f} ± {values.std(ddof=1) / np.sqrt(len(values)):.3f}'


def summary_table(work_dir: str, task: str) -> str:
    """Every variant and seed run so far in ``work_dir`` (its results_<task>_*.json): the SFT model at
    each CFG scale sampled, then each GRPO variant after training, mean ± standard error over seeds.
    Runs made on other CPUs or with other stage lengths are not comparable: an error names them."""
    runs = []
    for path in sorted(glob.glob(osp.join(work_dir, f'results_{task}_*.json'))):
        with open(path) as f:
            run = json.load(f)
        if 'variant' in run:  # written before variants existed: not comparable, left out
            runs.append(dict(run, path=osp.basename(path)))
    if not runs:
        raise FileNotFoundError(f'no results_{task}_*.json in {work_dir}: run tools/demo.py --task {task} first')
    settings = {(run['cpu'], run.get('quick', False), run.get('grpo_iters')): run['path'] for run in runs}
    if len(settings) > 1:
        raise ValueError(f'results of different CPUs, --quick or --grpo-iters in {work_dir}, e.g. '
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
    os.environ['ARGRPO_DEMO_DIR'] = work_dir  # read by the demo configs
    os.makedirs(work_dir, exist_ok=True)
    started, timings = time.perf_counter(), {}

    reference = osp.join(work_dir, task['reference'])
    if not osp.isfile(reference):  # real images of the world for FID (a seed unseen in training)
        world = ShapesDataset(mode=task['mode'], seed=11)
        np.savez(reference, arr_0=world.images(300 if args.quick else 1000))
    for name, config, exported, quick_iters in task['stages']:
        if osp.isfile(osp.join(work_dir, name, exported)):
            print(f'[demo] stage {name}: reusing {osp.join(name, exported)}', flush=True)
            continue
        options = {'train_cfg.max_iters': quick_iters} if args.quick else {}
        train_stage(name, osp.join(CONFIGS, config), osp.join(work_dir, name), options, timings)

    tag = f'{args.task}_seed{args.seed}' if variant == 'baseline' else f'{args.task}_{variant}_seed{args.seed}'
    grpo_config, grpo_dir = osp.join(CONFIGS, task['grpo'][variant]), osp.join(work_dir, f'grpo_{tag}')
    model = Config.fromfile(grpo_config).model
    cfg_scale = (model.get('eval_sampler') or model.sampler).get('cfg_scale', 1.0)  # of the evaluation
    grpo_options = {'randomness.seed': args.seed}
    if args.grpo_iters:
        grpo_options.update({'train_cfg.max_iters': args.grpo_iters,
                             'default_hooks.checkpoint.interval': args.grpo_iters})
    last = osp.join(grpo_dir, 'last_checkpoint')
    if not osp.isfile(last):
        train_stage('grpo', grpo_config, grpo_dir, grpo_options, timings)
    with open(last) as f:
        grpo_checkpoint = f.read().strip()

    eval_options = {'test_dataloader.dataset.repeat': 10} if args.quick and args.task == 'c2i' else {}
    # the SFT model sampled as this variant samples (with its CFG scale), shared by variants and seeds
    before_dir = osp.join(work_dir, f'eval_{args.task}_before' + (f'_cfg{cfg_scale:g}' if cfg_scale > 1 else ''))
    after_dir = osp.join(work_dir, f'eval_{tag}')
    before = evaluate(grpo_config, osp.join(work_dir, task['sft']), before_dir, eval_options, timings)
    after = evaluate(grpo_config, grpo_checkpoint, after_dir, eval_options, timings)
    rows = task['rows'] + COMMON_ROWS
    if 'novel' in task:
        options = {**eval_options, **task['novel']}
        novel_before = evaluate(grpo_config, osp.join(work_dir, task['sft']), before_dir + '_novel', options, timings)
        novel_after = evaluate(grpo_config, grpo_checkpoint, after_dir + '_novel', options, timings)
        before.update({f'novel/{k}': v for k, v in novel_before.items()})
        after.update({f'novel/{k}': v for k, v in novel_after.items()})
        rows = rows + [(f'novel/{key}', f'{label}, new captions') for key, label in task['rows'] if 'heldout' in key]
    timings['in all'] = time.perf_counter() - started
    cpu = cpu_model()
    result = table(rows, before, after)
    stages = ', '.join(f'{name} {seconds:.0f} s' for name, seconds in timings.items())
    with open(osp.join(work_dir, f'results_{tag}.md'), 'w') as f:
        f.write(f'{result}\nCPU: {cpu}. Seconds (stages run now; reused ones are not listed): {stages}.\n')
    with open(osp.join(work_dir, f'results_{tag}.json'), 'w') as f:
        json.dump(dict(task=args.task, variant=variant, seed=args.seed, cfg_scale=cfg_scale, quick=args.quick,
                       grpo_iters=args.grpo_iters, before=before, after=after, cpu=cpu, seconds=timings), f, indent=2)
    print(f'\n[demo] {args.task}, {args.variant} GRPO, seed {args.seed}, on {cpu}\n[demo] seconds: {stages}\n{result}'
          f'[demo] sample grids: {osp.join(before_dir, "samples_grid.png")} (before), '
          f'{osp.join(after_dir, "samples_grid.png")} (after)', flush=True)
    return dict(before=before, after=after)


if __name__ == '__main__':
    main()
