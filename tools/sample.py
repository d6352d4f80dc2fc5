"""Sample images from a config's generator: a PNG grid plus every image on its own.

    python tools/sample.py CONFIG --classes 1 7 207 [--num-per-prompt 4]
    python tools/sample.py CONFIG --prompts prompts.txt --gpt-ckpt G.pt --vq-ckpt V.pt
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from tqdm import tqdm

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.apis import build_generation_model, load_config  # noqa: E402
from argrpo.utils import image_grid, read_prompts, save_png, to_uint8  # noqa: E402
from argrpo.utils.cli import non_negative_int, positive_float, positive_int  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Sample images with an AR generator')
    parser.add_argument('config')
    parser.add_argument('--gpt-ckpt', help='overrides model.generator.checkpoint')
    parser.add_argument('--vq-ckpt', help='overrides model.tokenizer.checkpoint')
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument('--classes', type=int, nargs='+', help='class ids (class-conditional)')
    what.add_argument('--prompts', help='text file, one caption per line (text-conditional)')
    parser.add_argument('--num-per-prompt', type=positive_int, default=1)
    parser.add_argument('--batch-size', type=positive_int, default=8)
    parser.add_argument('--cfg-scale', type=positive_float, help='>= 1 (1: no guidance)')
    parser.add_argument('--temperature', type=positive_float)
    parser.add_argument('--top-k', type=non_negative_int, help='0: off')
    parser.add_argument('--top-p', type=positive_float, help='in (0, 1]')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out-dir', default='outputs/samples')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.cfg_scale is not None and args.cfg_scale < 1:
        parser.error(f'argument --cfg-scale: {args.cfg_scale:g} is below 1 (1: no guidance)')
    if args.top_p is not None and args.top_p > 1:
        parser.error(f'argument --top-p: {args.top_p:g} is not in (0, 1]')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    model_cfg = load_config(args.config, args.cfg_options).model
    if args.gpt_ckpt:
        model_cfg.generator.checkpoint = args.gpt_ckpt
    if args.vq_ckpt:
        model_cfg.tokenizer.checkpoint = args.vq_ckpt
    for key in ('cfg_scale', 'temperature', 'top_k', 'top_p'):
        if getattr(args, key) is not None:
            model_cfg.sampler[key] = getattr(args, key)
    model = build_generation_model(model_cfg).to(args.device)

    if args.classes is not None:
        conds, labels = args.classes, [str(c) for c in args.classes]
    else:
        conds = read_prompts(args.prompts)
        labels = [f'p{i}' for i in range(len(conds))]
    conds = [c for c in conds for _ in range(args.num_per_prompt)]
    names = [label for label in labels for _ in range(args.num_per_prompt)]

    rng = torch.Generator(args.device).manual_seed(args.seed)
    images = []
    for start in tqdm(range(0, len(conds), args.batch_size), desc='sampling', unit='batch'):
        batch = model.generate(conds[start:start + args.batch_size], generator=rng).cpu()
        for i, image in enumerate(to_uint8(batch)):
            save_png(image, osp.join(args.out_dir, 'images', f'{start + i:05d}_{names[start + i]}.png'))
        images.append(batch)
    grid_path = osp.join(args.out_dir, 'grid.png')
    save_png(image_grid(torch.cat(images), nrow=args.num_per_prompt if args.num_per_prompt > 1 else None),
             grid_path)
    print(f'wrote {len(conds)} images to {osp.join(args.out_dir, "images")} and {grid_path}')


if __name__ == '__main__':
    main()
