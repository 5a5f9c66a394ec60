"""One loader for generate's and train's config files, with typed --set overrides."""
import pytest

from skyreels_jax.config_files import load_config

CONFIG = '''
import ml_collections

def get_config(arg="small"):
    return ml_collections.ConfigDict(dict(name=arg, steps=10, lr=1e-3, remat=False, path="",
                                          optim=dict(b1=0.9), extra=None))
'''


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.py"
    path.write_text(CONFIG)
    return path


def test_arg_and_typed_overrides(config_file):
    cfg = load_config(f"{config_file}:large", ["steps=20", "lr=1", "remat=True", "path=2024", "optim.b1=0.5",
                                                "extra=[1, 2]"])
    assert (cfg.name, cfg.steps, cfg.lr, cfg.remat, cfg.path, cfg.optim.b1) == ("large", 20, 1.0, True, "2024", 0.5)
    assert list(cfg.extra) == [1, 2]
    assert load_config(config_file, {"steps": 3}).steps == 3


@pytest.mark.parametrize("item, message", [
    ("stepz=3", r"unknown config key 'stepz': the config has no field 'stepz' \(it has extra, lr, name"),
    ("optim.b3=1", r"unknown config key 'optim.b3': optim has no field 'b3' \(it has b1\)"),
    ("steps=many", r"config key 'steps' is an int \(10\); got the str 'many'"),
    ("remat=yes", r"config key 'remat' is a bool"),
    ("steps", r"--set takes KEY=VALUE, got 'steps'"),
])
def test_bad_overrides_say_which_key_in_one_line(config_file, item, message):
    with pytest.raises(ValueError, match=message) as error:
        load_config(config_file, [item])
    assert "\n" not in str(error.value)


def test_missing_file_and_missing_get_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nothing.py")
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="defines no get_config"):
        load_config(tmp_path / "empty.py")
