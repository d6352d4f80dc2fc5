"""GenEval as a metric (its table against a hand-computed one, its results file read back) and
as a reward (all-or-nothing and partial credit) with a stand-in detector; then a tiny random
Mask2Former and a tiny CLIP through the configs: the metric prints the six-task table, the
reward trains one GRPO step, and the service config, served by tools/reward_server.py, scores
through RemoteReward as the reward does in process."""
import json
import os.path as osp

import pytest
import torch
from argrpo_testing import save_tiny_open_clip, tiny_grpo_model
from http_servers import ToolServer
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from argrpo.detectors import BaseDetector, Detections
from argrpo.evaluation.metrics import geneval_metric
from argrpo.evaluation.metrics.geneval_metric import format_table, summarize
from argrpo.registry import DETECTORS, METRICS, REWARDS
from argrpo.rewards import RemoteReward
from argrpo.services import reward_config
from argrpo.utils import quantize

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
EVAL_CONFIG = osp.join(ROOT, 'configs', 'evaluation', 'geneval_llamagen-xl_t2i_256.py')
GRPO_CONFIG = osp.join(ROOT, 'configs', 'argrpo', 'argrpo_llamagen-xl_t2i_256_geneval.py')
SERVICE_CONFIG = osp.join(ROOT, 'configs', 'reward_services', 'geneval_mask2former.py')
FIELDS = {'filename', 'tag', 'prompt', 'correct', 'reason', 'metadata', 'details'}


def result(tag, prompt, correct):
    return dict(tag=tag, prompt=prompt, correct=correct)


# 20 images of 7 prompts; by hand: tasks 3/4, 1/4, 0/2, 2/2, 1/4, 0/4; overall (0.75 + 0.25 + 0 + 1
# + 0.25 + 0) / 6 = 0.375; images 7/20; prompts with a correct image A, B, E, F: 4/7
HAND_MADE = ([result('single_object', 'A', c) for c in (True, True, False, True)]
             + [result('two_object', 'B', c) for c in (False, True)] + [result('two_object', 'C', False)] * 2
             + [result('counting', 'D', False)] * 2 + [result('colors', 'E', True)] * 2
             + [result('position', 'F', c) for c in (False, False, True, False)]
             + [result('color_attr', 'G', False)] * 4)


def test_summary_and_table_against_a_hand_computed_one():
    metrics = summarize(HAND_MADE[::-1])  # the tasks come in GenEval's order whatever the results' order
    assert list(metrics) == ['single_object', 'two_object', 'counting', 'colors', 'position', 'color_attr',
                             'overall', 'images_correct', 'prompts_correct']
    assert metrics == pytest.approx(dict(single_object=0.75, two_object=0.25, counting=0.0, colors=1.0, position=0.25,
                                         color_attr=0.0, overall=0.375, images_correct=0.35, prompts_correct=4 / 7))
    table = format_table(metrics, HAND_MADE).splitlines()
    assert table[0] == 'GenEval: 20 images of 7 prompts'
    assert table[2].split() == ['single_object', '75.00%', '3', '/', '4']
    assert table[5].split() == ['colors', '100.00%', '2', '/', '2']
    assert table[8].split()[:2] == ['overall', '0.37500']
    assert table[9].split()[-1] == '35.00%' and table[10].split()[2] == '57.14%'
    partial = summarize(HAND_MADE[:4] + HAND_MADE[8:10])  # only the tasks present are averaged
    assert partial['overall'] == pytest.approx((0.75 + 0.0) / 2)


CLASSES = ('person', 'dog', 'bus', 'couch', 'bird', 'mouse')
METADATA = [
    dict(tag='single_object', include=[{'class': 'dog', 'count': 1}], prompt='a photo of a dog'),
    dict(tag='two_object', include=[{'class': 'dog', 'count': 1}, {'class': 'person', 'count': 1}],
         prompt='a photo of a dog and a person'),
    dict(tag='counting', include=[{'class': 'bus', 'count': 2}], exclude=[{'class': 'bus', 'count': 3}],
         prompt='a photo of two buses'),
    dict(tag='colors', include=[{'class': 'dog', 'count': 1, 'color': 'red'}], prompt='a photo of a red dog'),
    dict(tag='position', include=[{'class': 'couch', 'count': 1},
                                  {'class': 'bird', 'count': 1, 'position': ['left of', 0]}],
         prompt='a photo of a bird left of a couch'),
    dict(tag='color_attr', include=[{'class': 'dog', 'count': 1, 'color': 'red'},
                                    {'class': 'computer mouse', 'count': 1, 'color': 'blue'}],
         prompt='a photo of a red dog and a blue computer mouse'),
]
SIZE = 32
LEFT, RIGHT = (0, 8, 8, 16), (20, 8, 28, 16)
# scripted scenes: (class, score, box); the stand-in colour classifier calls objects at x1 < 10 red
SCENES = {
    0: [],
    1: [('dog', 0.8, LEFT)],
    2: [('dog', 0.8, RIGHT)],  # a blue dog
    3: [('dog', 0.8, LEFT), ('person', 0.5, RIGHT)],
    4: [('bus', 0.95, LEFT), ('bus', 0.95, RIGHT)],
    5: [('bus', 0.95, LEFT), ('bus', 0.95, RIGHT), ('bus', 0.92, (10, 0, 18, 8))],
    6: [('couch', 0.9, RIGHT), ('bird', 0.9, LEFT)],
    7: [('couch', 0.9, LEFT), ('bird', 0.9, RIGHT)],
    8: [('dog', 0.8, LEFT), ('mouse', 0.7, LEFT)],  # a red mouse
    9: [('dog', 0.8, RIGHT), ('mouse', 0.7, LEFT)],  # a blue dog and a red mouse
}
# (prompt line, scene) -> (correct, fraction), by hand
CASES = [((0, 1), (True, 1.0)), ((0, 0), (False, 0.0)), ((1, 3), (True, 1.0)), ((1, 1), (False, 0.5)),
         ((2, 4), (True, 1.0)), ((2, 5), (False, 0.5)), ((3, 1), (True, 1.0)), ((3, 2), (False, 0.5)),
         ((4, 6), (True, 1.0)), ((4, 7), (False, 2 / 3)), ((5, 8), (False, 0.75)), ((5, 9), (False, 0.5))]


@DETECTORS.register_module(force=True)
class ScriptedDetector(BaseDetector):
    """A stand-in detector: each image's first pixel (an 8-bit level) picks a scene of SCENES."""

    classes = CLASSES

    def __init__(self):
        super().__init__()
        self.freeze()

    def detect(self, images):
        self.seen = images
        out = []
        for image in images:
            scene = SCENES[round((image[0, 0, 0].item() + 1) * 127.5)]
            masks = torch.zeros(len(scene), *image.shape[-2:], dtype=torch.bool)
            for mask, (_, _, (x1, y1, x2, y2)) in zip(masks, scene):
                mask[y1:y2, x1:x2] = True
            out.append(Detections(torch.tensor([s[2] for s in scene], dtype=torch.float32).view(-1, 4),
                                  torch.tensor([s[1] for s in scene]),
                                  torch.tensor([CLASSES.index(s[0]) for s in scene], dtype=torch.long), masks))
        return out


def red_left(image, boxes, masks, name):
    return ['red' if box[0] < 10 else 'blue' for box in boxes.tolist()]


def scene_images(scenes):
    images = torch.rand(len(scenes), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    images[:, 0, 0, 0] = torch.tensor(scenes, dtype=torch.float32) / 127.5 - 1
    return images


@pytest.fixture(scope='module')
def metadata_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('geneval') / 'evaluation_metadata.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in METADATA))
    return str(path)


def build_reward(metadata_file, **kwargs):
    kwargs.setdefault('colour_classifier', red_left)
    return REWARDS.build(dict(type='GenEvalReward', metadata=metadata_file, detector=dict(type='ScriptedDetector'),
                              **kwargs))


def test_reward_all_or_nothing_and_partial_credit(metadata_file):
    prompts = [METADATA[line]['prompt'] for (line, _), _ in CASES]
    images = scene_images([scene for (_, scene), _ in CASES])
    strict = build_reward(metadata_file)
    assert strict.name == 'geneval' and not any(p.requires_grad for p in strict.parameters())
    assert strict(images, prompts).tolist() == [float(correct) for _, (correct, _) in CASES]
    saved = ((images + 1) * 127.5).round() / 127.5 - 1  # what a saved PNG holds
    torch.testing.assert_close(strict.judge.detector.seen, saved, atol=1e-6, rtol=0)
    partial = build_reward(metadata_file, partial_credit=True)
    torch.testing.assert_close(partial(images, prompts), torch.tensor([f for _, (_, f) in CASES]))
    with pytest.raises(KeyError, match="'a photo of a cat' is not in the GenEval metadata .*evaluation_metadata"):
        strict(images[:1], ['a photo of a cat'])


def test_a_colour_prompt_needs_a_colour_classifier(metadata_file):
    with pytest.raises(ValueError, match='colour requirements: give colour_classifier'):
        build_reward(metadata_file, colour_classifier=None)


def printed_log(monkeypatch):
    """What the metric prints through MMLogger, as one growing list of messages."""
    printed = []
    monkeypatch.setattr(geneval_metric, 'print_log', lambda msg, logger=None: printed.append(msg))
    return printed


def test_metric_writes_the_official_results_file_and_the_table(metadata_file, tmp_path, monkeypatch):
    results_file = tmp_path / 'out' / 'results.jsonl'
    metric = METRICS.build(dict(type='GenEvalMetric', metadata=metadata_file, detector=dict(type='ScriptedDetector'),
                                colour_classifier=red_left, results_file=str(results_file)))
    images = scene_images([scene for (_, scene), _ in CASES])
    # GenEvalPromptDataset's order: index = sample * prompts + line; two batches, out of order
    samples = [dict(image=image, prompt=METADATA[line]['prompt'], index=line + len(METADATA) * (n % 2))
               for n, (image, ((line, _), _)) in enumerate(zip(images, CASES))]
    metric.process(None, samples[6:])
    metric.process(None, samples[:6])
    printed = printed_log(monkeypatch)
    metrics = metric.evaluate(len(samples))
    lines = [json.loads(line) for line in results_file.read_text().splitlines()]
    assert [r['filename'] for r in lines] == [f'{line:05d}/samples/{sample:04d}.png' for sample, line in
                                              sorted((n % 2, line) for n, ((line, _), _) in enumerate(CASES))]
    expected = {f'{line:05d}/samples/{n % 2:04d}.png': (line, scene, correct)
                for n, ((line, scene), (correct, _)) in enumerate(CASES)}
    for r in lines:
        line, scene, correct = expected[r['filename']]
        assert set(r) == FIELDS and r['correct'] is correct and bool(r['reason']) is not correct
        assert r['tag'] == METADATA[line]['tag'] and r['prompt'] == METADATA[line]['prompt']
        assert json.loads(r['metadata']) == METADATA[line]
        details = {}  # every scripted object is above its task's threshold; best first, ties in order
        for name, score, box in sorted(SCENES[scene], key=lambda o: -o[1]):
            details.setdefault('computer mouse' if name == 'mouse' else name, []).append(
                [*map(float, box), pytest.approx(score)])
        assert json.loads(r['details']) == details
    # each task has one correct image of two; every prompt has a correct image but the last
    assert metrics == pytest.approx({'geneval/' + k: v for k, v in dict(
        single_object=0.5, two_object=0.5, counting=0.5, colors=0.5, position=0.5, color_attr=0.0,
        overall=2.5 / 6, images_correct=5 / 12, prompts_correct=5 / 6).items()})
    assert metrics == pytest.approx({'geneval/' + k: v for k, v in summarize(lines).items()})
    assert printed[-1] == '\n' + format_table(metrics and summarize(lines), lines)
    assert 'GenEval: 12 images of 6 prompts' in printed[-1] and 'overall            0.41667' in printed[-1]


COCO = ('person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
        'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
        'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
        'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
        'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
        'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
        'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard',
        'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
        'teddy bear', 'hair drier', 'toothbrush')


@pytest.fixture(scope='module')
def tiny_mask2former(tmp_path_factory):
    """The detector test's tiny random Mask2Former (tiny Swin backbone), with COCO's 80 names."""
    from test_mask2former_detector import save_tiny_mask2former
    path = save_tiny_mask2former(tmp_path_factory.mktemp('m2f') / 'coco')
    config = json.loads(open(osp.join(path, 'config.json')).read())
    config['id2label'] = {str(i): name for i, name in enumerate(COCO)}
    config['label2id'] = {name: i for i, name in enumerate(COCO)}
    with open(osp.join(path, 'config.json'), 'w') as f:
        json.dump(config, f)
    return path


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    arch, checkpoint, _ = save_tiny_open_clip(tmp_path_factory.mktemp('clip_configs'), 'GenEvalCLIP-Tiny2')
    return dict(arch=arch, checkpoint=checkpoint)


def tiny_parts(cfg, metadata_file, tiny_mask2former, tiny_clip):
    cfg.update(metadata=metadata_file, colour_classifier=tiny_clip)
    cfg.detector.update(checkpoint=tiny_mask2former, scale=(333, 200))
    return cfg


@pytest.mark.slow
def test_tiny_mask2former_through_the_configs(metadata_file, tiny_mask2former, tiny_clip, tmp_path, monkeypatch):
    cfg = Config.fromfile(EVAL_CONFIG)
    assert cfg.test_dataloader.dataset.type == 'GenEvalPromptDataset' and cfg.test_dataloader.dataset.repeat == 4
    (metric_cfg,) = cfg.test_evaluator
    metric_cfg = tiny_parts(metric_cfg, metadata_file, tiny_mask2former, tiny_clip)
    metric_cfg.results_file = str(tmp_path / 'results.jsonl')
    metric = METRICS.build(metric_cfg)
    images = torch.rand(6, 3, 40, 56, generator=torch.Generator().manual_seed(3)) * 2 - 1
    metric.process(None, [dict(image=x, prompt=r['prompt'], index=i) for i, (x, r) in enumerate(zip(images, METADATA))])
    printed = printed_log(monkeypatch)
    metrics = metric.evaluate(6)
    assert set(metrics) == {f'geneval/{k}' for k in ('single_object', 'two_object', 'counting', 'colors', 'position',
                                                      'color_attr', 'overall', 'images_correct', 'prompts_correct')}
    for task in ('single_object', 'two_object', 'counting', 'colors', 'position', 'color_attr', 'overall'):
        assert task in printed[-1]
    lines = [json.loads(line) for line in (tmp_path / 'results.jsonl').read_text().splitlines()]
    assert len(lines) == 6 and all(set(r) == FIELDS for r in lines)
    assert metrics == pytest.approx({'geneval/' + k: v for k, v in summarize(lines).items()})

    grpo = Config.fromfile(GRPO_CONFIG)
    assert grpo.train_dataloader.dataset.path == grpo.model.reward.rewards[0].metadata
    geneval = tiny_parts(grpo.model.reward.rewards[0], metadata_file, tiny_mask2former, tiny_clip)
    assert geneval.type == 'GenEvalReward' and geneval.partial_credit
    # a random detector finds nothing above 0.3: GenEval's reward is the same for the whole group, so
    # the colour-gradient reward of the tiny tests gives the step its advantages
    model = tiny_grpo_model(reward=dict(type='WeightedSum', rewards=[geneval.to_dict(), dict(type='GradientReward')]))
    before = [p.clone() for p in model.policy.parameters()]
    optim = OptimWrapper(torch.optim.SGD(model.policy.parameters(), lr=1.0))
    log = model.train_step(dict(cond=[0, 1], prompt=[METADATA[2]['prompt'], METADATA[5]['prompt']]), optim)
    assert torch.isfinite(torch.stack([torch.as_tensor(v, dtype=torch.float32).mean() for v in log.values()])).all()
    assert log['skipped'] == 0 and 0 <= log['geneval_min'] <= log['geneval_max'] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))  # the step moved the policy


# the service test's prompts: a colour (the tiny CLIP decides it), a single object, a count whose
# excluded clause holds when no bus is found (half credit)
SERVICE_METADATA = [
    dict(tag='colors', include=[{'class': 'couch', 'count': 1, 'color': 'red'}], prompt='a photo of a red couch'),
    dict(tag='single_object', include=[{'class': 'suitcase', 'count': 1}], prompt='a photo of a suitcase'),
    dict(tag='counting', include=[{'class': 'bus', 'count': 2}], exclude=[{'class': 'bus', 'count': 3}],
         prompt='a photo of two buses'),
]


@pytest.mark.slow
def test_geneval_service_config_serves_the_reward(tiny_mask2former, tiny_clip, tmp_path, monkeypatch):
    """configs/reward_services/geneval_mask2former.py with only its files (and the CLIP arch)
    swapped for tiny ones, served by tools/reward_server.py: RemoteReward under the documented
    name 'geneval_remote' gets, image by image, what GenEvalReward built from the same config
    gives in process; under the served reward's own name 'geneval' it is refused."""
    monkeypatch.delenv('ARGRPO_REWARD_TOKEN', raising=False)
    metadata = tmp_path / 'service_metadata.jsonl'
    metadata.write_text(''.join(json.dumps(r) + '\n' for r in SERVICE_METADATA))
    config = tmp_path / 'geneval_service.py'
    config.write_text(f'_base_ = [{SERVICE_CONFIG!r}]\n'
                      f'reward = dict(metadata={str(metadata)!r}, detector=dict(checkpoint={tiny_mask2former!r}),\n'
                      f'              colour_classifier=dict(arch={tiny_clip["arch"]!r}, '
                      f'checkpoint={tiny_clip["checkpoint"]!r}))\n')
    cfg = reward_config(Config.fromfile(str(config)))
    base = reward_config(Config.fromfile(SERVICE_CONFIG))
    assert cfg.to_dict() == dict(base.to_dict(), metadata=str(metadata),  # nothing else changed
                                 detector=dict(base.detector, checkpoint=tiny_mask2former),
                                 colour_classifier=dict(arch=tiny_clip['arch'], checkpoint=tiny_clip['checkpoint']))
    # the server's own process learns the tiny CLIP architecture as the test's did (open_clip's
    # add_model_config), through a sitecustomize on its PYTHONPATH
    arch_dir = osp.dirname(tiny_clip['checkpoint'])
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(f'import open_clip\nopen_clip.add_model_config({arch_dir!r})\n')

    generator = torch.Generator().manual_seed(0)
    noise = torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1
    flat = (torch.rand(2, 3, 1, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1).expand(2, 3, 32, 32)
    images = quantize(torch.cat([noise, flat, flat[:1], noise[:1]]))  # what the uint8 wire carries exactly
    prompts = [SERVICE_METADATA[line]['prompt'] for line in (0, 0, 0, 0, 1, 2)]
    local = REWARDS.build(cfg)(images, prompts)
    assert len(set(local.tolist())) > 1 and any(0 < v < 1 for v in local.tolist()), local  # partial credit shows

    server = ToolServer(str(config), str(tmp_path / 'server.log'), reward_type='GenEvalReward',
                        reward_name='geneval', python_path=[str(site)])
    server.start()
    try:
        got = RemoteReward(server.url, name='geneval_remote').components(images, prompts)
        with pytest.raises(ValueError, match="served reward has a component named 'geneval': give RemoteReward "
                                             'another name='):
            RemoteReward(server.url, name='geneval').components(images[:1], prompts[:1])
    finally:
        server.stop()
    assert set(got) == {'geneval', 'geneval_remote'}
    assert got['geneval'].tolist() == local.tolist() and got['geneval_remote'].tolist() == local.tolist()
