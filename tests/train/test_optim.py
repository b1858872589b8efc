import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.train.optim import OPTIMIZERS, build_optimizer


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_minimizes_a_quadratic(name):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5))
    opt = build_optimizer(name, [w], lr=0.05)
    start = float((w.detach() ** 2).sum())
    for _ in range(50):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    assert float((w.detach() ** 2).sum()) < 0.5 * start, name


def test_optimizer_settings_reach_torch():
    p = [torch.nn.Parameter(torch.zeros(2))]
    nesterov = build_optimizer("nesterov", p, lr=0.1, momentum=0.8).param_groups[0]
    assert nesterov["nesterov"] is True and nesterov["momentum"] == 0.8
    assert build_optimizer("momentum", p, lr=0.1).param_groups[0]["nesterov"] is False
    assert build_optimizer("sgd", p, lr=0.1).param_groups[0]["momentum"] == 0
    assert isinstance(build_optimizer("rmsprop", p, lr=0.1), torch.optim.RMSprop)
    assert isinstance(build_optimizer("adagrad", p, lr=0.1), torch.optim.Adagrad)
    assert build_optimizer("adamw", p, lr=0.1, weight_decay=0.01).param_groups[0]["weight_decay"] == 0.01
    assert isinstance(build_optimizer("adadelta", p, lr=1.0), torch.optim.Adadelta)  # pytorch/examples' MNIST
    assert sorted(n for n, _ in OPTIMIZERS.items()) == sorted(
        ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta"])


def test_bad_optimizer_settings_fail_clearly():
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ConfigError, match="learning rate must be > 0"):
        build_optimizer("adam", p, lr=0)
    with pytest.raises(Exception, match="lion"):
        build_optimizer("lion", p, lr=0.1)


def test_the_config_offers_exactly_the_registered_optimizers_and_schedules():
    """The CLI's choices come from the config's Literal; the registry builds them: the two lists are one."""
    import typing

    from neuralab.train.config import Optimizer, Schedule
    from neuralab.train.optim import OPTIMIZERS, SCHEDULES

    assert set(typing.get_args(Optimizer)) == set(OPTIMIZERS.names())
    assert set(typing.get_args(Schedule)) == set(SCHEDULES.names())
