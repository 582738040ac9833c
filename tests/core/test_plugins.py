"""Components registered from outside gvis: the ``imports`` config key, ``--import`` and the ``gvis.plugins``
entry points; one-line errors for a module that fails to import and for a name registered twice."""
from __future__ import annotations

import pytest

from gvis.cli import main
from gvis.config import load_config
from gvis.errors import ConfigError
from gvis.gnn import GNNConfig
from gvis.registry import GNN_LAYERS, RECURRENT_GATES
from gvis.train.config import TrainConfig

#: A plugin module: a recurrent gate under a name gvis does not have.
GATE_PLUGIN = '''
from gvis.registry import RECURRENT_GATES
from gvis.tracker.gates import SimpleGate


@RECURRENT_GATES.register("{name}")
class OutsideGate(SimpleGate):
    """The simple gate under another name."""
'''


def write(folder, name: str, text: str):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_imports_key_registers_before_the_config_is_checked(plugin_folder, tmp_path):
    write(plugin_folder, "outside_gate.py", GATE_PLUGIN.format(name="outside"))
    config = write(tmp_path, "train.yaml", "imports: [outside_gate]\nmodel:\n  gate: {type: outside}\n")
    loaded = load_config(TrainConfig, config)
    assert loaded.imports == ["outside_gate"] and loaded.model.gate == {"type": "outside"}
    assert RECURRENT_GATES.get("outside").__module__ == "outside_gate"


def test_schema_without_an_imports_field_drops_the_key(plugin_folder, tmp_path):
    write(plugin_folder, "outside_gate.py", GATE_PLUGIN.format(name="outside"))
    config = write(tmp_path, "gnn.yaml", "imports: [outside_gate]\nwidth: 32\n")
    assert load_config(GNNConfig, config).width == 32
    assert "outside" in RECURRENT_GATES


def test_imports_from_base_file_and_from_set(plugin_folder, tmp_path):
    write(plugin_folder, "outside_gate.py", GATE_PLUGIN.format(name="outside"))
    write(tmp_path, "base.yaml", "imports: [outside_gate]\n")
    child = write(tmp_path, "child.yaml", "_base_: base.yaml\nmodel:\n  gate: {type: outside}\n")
    assert load_config(TrainConfig, child).imports == ["outside_gate"]
    assert load_config(TrainConfig, None, ["imports=[outside_gate]", "model.gate.type=outside"]).imports == \
        ["outside_gate"]


def test_module_that_fails_to_import_names_module_file_and_key(plugin_folder, tmp_path):
    config = write(tmp_path, "train.yaml", "imports: [no_such_plugin]\n")
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, config)
    assert str(info.value) == (f"{config}: key 'imports': cannot import plugin module 'no_such_plugin': "
                               "ModuleNotFoundError: No module named 'no_such_plugin'")
    write(plugin_folder, "broken_plugin.py", "raise RuntimeError('needs a GPU')\n")
    with pytest.raises(ConfigError, match=r"key 'imports': cannot import plugin module 'broken_plugin': "
                                          r"RuntimeError: needs a GPU$"):
        load_config(TrainConfig, write(tmp_path, "broken.yaml", "imports: [broken_plugin]\n"))
    with pytest.raises(ConfigError, match=r"key 'imports' must be a list of module names, got 'broken_plugin'"):
        load_config(TrainConfig, write(tmp_path, "string.yaml", "imports: broken_plugin\n"))


def test_name_registered_twice_names_registry_key_and_both_modules(plugin_folder, tmp_path):
    write(plugin_folder, "twice_gate.py", GATE_PLUGIN.format(name="simple"))
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, write(tmp_path, "train.yaml", "imports: [twice_gate]\n"))
    assert str(info.value) == (f"{tmp_path / 'train.yaml'}: key 'imports': cannot import plugin module 'twice_gate': "
                               "ConfigError: recurrent gate 'simple' is registered twice: by "
                               "gvis.tracker.gates.SimpleGate and by twice_gate.OutsideGate")


def test_import_flag_on_the_command_line(plugin_folder, tmp_path, capsys):
    assert main(["eval", "--import", "no_such_plugin", "a.json", "b.json"]) == 2
    assert capsys.readouterr().err.strip() == ("gvis eval: error: command line (--import): cannot import plugin "
                                               "module 'no_such_plugin': ModuleNotFoundError: No module named "
                                               "'no_such_plugin'")
    write(plugin_folder, "outside_gate.py", GATE_PLUGIN.format(name="outside"))
    main(["eval", "--import", "outside_gate", "missing.json", "missing.json"])  # fails later: no such files
    assert "outside" in RECURRENT_GATES


def entry_point_package(folder, name: str, value: str) -> None:
    """An installed distribution (its ``.dist-info`` on ``sys.path``) declaring a ``gvis.plugins`` entry point."""
    info = folder / "outside_pkg-1.0.dist-info"
    info.mkdir()
    write(info, "METADATA", "Metadata-Version: 2.1\nName: outside-pkg\nVersion: 1.0\n")
    write(info, "entry_points.txt", f"[gvis.plugins]\n{name} = {value}\n")


def test_entry_points_are_imported_when_a_registry_is_first_read(plugin_folder, monkeypatch):
    from gvis import plugins

    write(plugin_folder, "outside_gate.py", GATE_PLUGIN.format(name="outside"))
    entry_point_package(plugin_folder, "gates", "outside_gate")
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    assert "outside" in RECURRENT_GATES and "outside" in RECURRENT_GATES.names()


def test_entry_point_that_fails_to_import_is_one_line(plugin_folder, monkeypatch):
    from gvis import plugins

    entry_point_package(plugin_folder, "broken", "no_such_plugin")
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    with pytest.raises(ConfigError) as info:
        GNN_LAYERS.get("gated")
    assert str(info.value) == ("entry point 'broken = no_such_plugin' of package 'outside-pkg' (group gvis.plugins): "
                               "cannot import plugin module 'no_such_plugin': ModuleNotFoundError: No module named "
                               "'no_such_plugin'")


def test_checkpoint_imports_the_modules_its_training_config_lists(plugin_folder, tmp_path):
    from gvis.tracker.online import checkpoint_config

    write(plugin_folder, "outside_gate.py", GATE_PLUGIN.format(name="outside"))
    model = {"gate": {"type": "outside"}}
    assert checkpoint_config({"config": {"imports": ["outside_gate"], "model": model}}, "run/model.pt").gate == \
        {"type": "outside"}
    with pytest.raises(ConfigError) as info:
        checkpoint_config({"config": {"imports": ["gone_plugin"], "model": model}}, "run/model.pt")
    assert str(info.value) == ("run/model.pt: config: key 'imports': cannot import plugin module 'gone_plugin': "
                               "ModuleNotFoundError: No module named 'gone_plugin'")
