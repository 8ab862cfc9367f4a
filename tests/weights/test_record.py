"""BackboneRecord: what a backbone file records, written and read in one place."""
import dataclasses

import pytest

from mixskd_mm.weights.record import BackboneRecord, export_metadata_of, timm_config_metadata


def test_the_metadata_written_is_the_exported_form_and_reads_back():
    record = BackboneRecord.from_args(dict(model_name='resnet18', out_indices=[2, 3, 4], cifar_stem=True,
                                           stem_act=False, output_stride=16, in_chans=1, drop_path_rate=0.1))
    meta = record.to_metadata()
    assert meta == {'model_name': 'resnet18', 'out_indices': '[2, 3, 4]', 'cifar_stem': 'true', 'stem_act': 'false',
                    'output_stride': '16', 'in_chans': '1'}
    assert list(meta) == ['model_name', 'out_indices', 'cifar_stem', 'stem_act', 'output_stride', 'in_chans']
    assert BackboneRecord.from_metadata(meta) == record
    assert export_metadata_of(dict(model_name='test_resnet')) == {
        'model_name': 'test_resnet', 'out_indices': '[1, 2, 3, 4]', 'cifar_stem': 'false'}
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.stem_act = True


def test_absent_options_are_defaults_and_unreadable_ones_are_named():
    assert BackboneRecord.from_metadata({'format': 'pt'}) is None
    plain = BackboneRecord.from_metadata({'model_name': 'resnet18'})
    assert plain == BackboneRecord('resnet18', out_indices=None) and plain.weight_options() == {}
    odd = BackboneRecord.from_metadata({'model_name': 'resnet18', 'stem_act': 'maybe', 'in_chans': '', 'cifar_stem':
                                        'true', 'output_stride': 'null', 'out_indices': '[1, "2"]'})
    assert odd.unreadable == ('out_indices', 'stem_act', 'in_chans')
    assert odd.stem_act is True and odd.in_chans == 3 and odd.output_stride is None and odd.cifar_stem is True
    assert odd.weight_options() == {'cifar_stem': True}


def test_a_timm_folder_config_records_its_architecture_and_stem_options():
    assert timm_config_metadata('resnet18', {'stem_act': False, 'in_chans': 1}) == {'model_name': 'resnet18',
                                                                                     'stem_act': 'false'}
    assert timm_config_metadata('resnet18', None) == {'model_name': 'resnet18'}
