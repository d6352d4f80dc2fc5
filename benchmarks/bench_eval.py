"""Images per second of evaluation: generation (sampling + VQ decode, ``val_step``) and feature
extraction with the FID Inception network, which every distribution metric runs.

    python benchmarks/bench_eval.py [--config configs/grpo_tiny/grpo_tiny_c2i_gradient.py]
                                    [--images 32] [--batch 16]

Random weights (the Inception weights are written to a temporary file in the real format); CPU,
and CUDA when present.
"""
import argparse
import os.path as osp
import sys
import tempfile
import time
from unittest import mock

import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from argrpo.registry import FEATURE_EXTRACTORS, MODELS  # noqa: E402


def random_fid_inception(directory: str) -> torch.nn.Module:
    import pyiqa.archs.inception as inception
    with mock.patch.object(inception, 'load_pretrained_network', lambda *args, **kwargs: None):
        net = inception.fid_inception_v3()
    path = osp.join(directory, 'pt_inception-random.pth')
    torch.save(net.state_dict(), path)
    return FEATURE_EXTRACTORS.build(dict(type='FIDInception', checkpoint=path))


def timed(fn, device: str) -> float:
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(ROOT, 'configs', 'grpo_tiny', 'grpo_tiny_c2i_gradient.py'))
    parser.add_argument('--images', type=int, default=32)
    parser.add_argument('--batch', type=int, default=16)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    num_classes = cfg.model.generator.get('num_classes', 1000)
    with tempfile.TemporaryDirectory() as tmp:
        extractor = random_fid_inception(tmp)
        for device in ['cpu'] + (['cuda'] if torch.cuda.is_available() else []):
            model = MODELS.build(cfg.model).to(device).eval()
            extractor.to(device)
            batches = [dict(cond=[i % num_classes for i in range(s, min(s + args.batch, args.images))],
                            prompt=[''] * len(range(s, min(s + args.batch, args.images))),
                            index=list(range(s, min(s + args.batch, args.images))))
                       for s in range(0, args.images, args.batch)]
            model.val_step(batches[0])  # warm-up
            images = []
            gen = timed(lambda: images.extend(s['image'] for b in batches for s in model.val_step(b)), device)
            stacked = torch.stack(images)
            with torch.no_grad():
                extractor(stacked[:2])  # warm-up
                feat = timed(lambda: [extractor(stacked[s:s + args.batch])
                                      for s in range(0, len(stacked), args.batch)], device)
            n = args.images
            print(f'{osp.basename(args.config)} on {device}, {n} images of {tuple(stacked.shape[1:])}, '
                  f'batch {args.batch}:')
            print(f'  generation {n / gen:.1f} img/s, FID Inception features {n / feat:.1f} img/s, '
                  f'together {n / (gen + feat):.1f} img/s')


if __name__ == '__main__':
    main()
