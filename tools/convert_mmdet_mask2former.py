"""Convert an mmdet Mask2Former Swin checkpoint (GenEval's detector) to transformers' format.

    python tools/convert_mmdet_mask2former.py \\
        mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth checkpoints/geneval/mask2former_swin-s_coco_hf

Reads mmdet 2.x (the official v2.0 model-zoo file GenEval uses) and 3.x layouts; OUT_DIR is a
``save_pretrained`` directory for ``Mask2FormerDetector(checkpoint=OUT_DIR)``. No mmcv needed.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.detectors.mmdet_mask2former import (  # noqa: E402
    convert_mmdet_mask2former, load_mmdet_checkpoint, mmdet_layout)
from argrpo.utils.cli import positive_int  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='mmdet Mask2Former -> transformers')
    parser.add_argument('checkpoint', help='mmdet .pth file ({"state_dict": ..., "meta": ...})')
    parser.add_argument('out_dir', help='directory to write with save_pretrained')
    parser.add_argument('--num-heads', type=positive_int, default=8,
                        help='attention heads of the pixel decoder and the transformer decoder '
                        '(8 in mmdet\'s Mask2Former configs; not stored in the weights)')
    parser.add_argument('--classes', help='text file of class names, one a line, in label '
                        'order (default: COCO\'s 80 as GenEval spells them)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        sys.exit(f'no such checkpoint: {args.checkpoint}. GenEval\'s detector is fetched by its '
                 'evaluation/download_models.sh (https://github.com/djghosh13/geneval): '
                 'mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth; see docs/advanced/mmdet_conversion.md')
    classes = None
    if args.classes:
        with open(args.classes) as f:
            classes = [line.strip() for line in f if line.strip()]
    state_dict, meta = load_mmdet_checkpoint(args.checkpoint)
    model = convert_mmdet_mask2former(state_dict, num_heads=args.num_heads, classes=classes)
    model.save_pretrained(args.out_dir)
    version = meta.get('mmdet_version', 'unknown version')
    print(f'{args.checkpoint} (mmdet {mmdet_layout(state_dict)} layout, {version}) -> '
          f'{args.out_dir}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, '
          f'{model.config.num_labels} classes')


if __name__ == '__main__':
    main()
