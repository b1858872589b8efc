import pytest

from neuralab.errors import ConfigError
from neuralab.registry import Registry


def test_register_get_and_list():
    r: Registry[int] = Registry("thing")
    r.register("b")(2)
    r.register("a")(1)
    assert r.get("a") == 1 and r.names() == ["a", "b"] and "b" in r and len(r) == 2


def test_duplicate_name_is_an_error():
    r: Registry[int] = Registry("thing")
    r.register("a")(1)
    with pytest.raises(ConfigError, match="registered twice"):
        r.register("a")(2)


def test_unknown_name_suggests_close_matches_and_lists_known():
    r: Registry[int] = Registry("model")
    r.register("resnet18")(1)
    r.register("mlp")(2)
    with pytest.raises(ConfigError, match=r"unknown model 'resnet81'.*Did you mean: resnet18.*Known models: mlp"):
        r.get("resnet81")
