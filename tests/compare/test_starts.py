"""The starts of a comparison: their schedule defaults, names and what settings.json records of them."""
import pytest

from mixskd_mm.compare import cli
from mixskd_mm.compare.plan import Comparison, Settings
from mixskd_mm.compare.starts import PlannedStart, label_of, parse_init, schedule_defaults
from mixskd_mm.weights.starts import Start

DATA = dict(classes=['a', 'b', 'c'], splits=dict(train=dict(images=100)), has_test=True, img_size=64,
            mean=[120.0] * 3, std=[60.0] * 3)


def settings(*extra):
    return Settings.from_args(cli.parse_args(['--data', 'fashion-mnist', '--out', 'out', '--batch', '32', *extra]))


def test_each_start_has_its_own_schedule_defaults_and_the_given_values_win():
    assert schedule_defaults('scratch', 64, None, None) == (30, 0.05)
    assert schedule_defaults('timm', 64, None, None) == (15, 0.01)
    assert schedule_defaults('local-dir:x', 32, 7, 0.3) == (7, 0.3)


def test_a_pretrained_start_brings_its_weights_size_and_normalisation():
    start = PlannedStart(Start('local-dir:x', weights='/w/model.safetensors', sha256='ab', mean=(0.5,) * 3,
                               std=(0.25,) * 3, input_size=28), 'local-dir-x', 90, 90)
    c = Comparison.build(settings('--init', 'scratch,local-dir:x'), DATA, '/o/starts/local-dir-x', 1, start=start,
                         data_dir='/o/data')
    p = c.pretraining
    assert (p.epochs, p.lr, p.img_size, p.pretrained) == (15, 0.005, 28, '/w/model.safetensors')
    assert p.normalisation == ((127.5,) * 3, (63.75,) * 3)
    scratch = Comparison.build(settings('--init', 'scratch,local-dir:x'), DATA, '/o/starts/scratch', 1)
    assert (scratch.pretraining.epochs, scratch.pretraining.img_size, scratch.pretraining.normalisation) == \
        (30, 64, None)
    assert c.described()['start']['sha256'] == 'ab' and c.data_dir == '/o/data'


def test_settings_json_records_init_unless_scratch_alone():
    assert 'init' not in settings('--init', 'scratch').recorded()
    assert settings('--init', 'scratch').recorded()['epochs'] == 30  # what folders started before --init hold
    recorded = settings('--init', 'scratch,timm').recorded()
    assert recorded['init'] == ['scratch', 'timm'] and recorded['epochs'] is None


def test_labels_are_short_unique_and_safe():
    assert label_of('scratch', []) == 'scratch' and label_of('hf-hub:org/fmnist-ce@v1', []) == 'hf-hub-fmnist-ce-v1'
    assert label_of('local-dir:/a/b c/', []) == 'local-dir-b-c'
    assert label_of('local-dir:/x/src', ['local-dir-src']) == 'local-dir-src-2'
    with pytest.raises(SystemExit, match='repeats'):
        parse_init('timm,timm')
    with pytest.raises(SystemExit, match='at least one'):
        parse_init(' , ')
