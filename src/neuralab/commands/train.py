"""`neuralab train` (any task, chosen by the dataset), `train --resume`, `pretrain` and `train-detector`."""

from __future__ import annotations

import argparse
from typing import Any

from neuralab.commands.common import settings, sub
from neuralab.config import add_arguments, flat_fields, from_args
from neuralab.errors import ConfigError

RESUMABLE = {"epochs"}  # options that may change when a run continues (more epochs, as Keras' initial_epoch)


def _given(ns: argparse.Namespace, cls: type) -> dict[str, Any]:
    table = flat_fields(cls)
    return {k: v for k, v in vars(ns).items() if k in table}


def cmd_train(ns: argparse.Namespace) -> int:
    from neuralab.tasks import for_dataset
    from neuralab.train.config import TrainConfig

    flat = _given(ns, TrainConfig)
    if ns.resume:
        return _resume(ns, flat)
    task = for_dataset(flat.get("dataset", TrainConfig().data.dataset))
    folder, said = task.train(flat, settings(ns), print)
    print(said)
    print(f"run directory: {folder}")
    return 0


def _resume(ns: argparse.Namespace, flat: dict[str, Any]) -> int:
    from neuralab.config import from_dict
    from neuralab.runs import find_run
    from neuralab.train.config import TrainConfig
    from neuralab.train.trainer import train

    s = settings(ns)
    run = find_run(ns.resume, s.runs_dir)
    changed = sorted(set(flat) - RESUMABLE)
    if changed:
        raise ConfigError(f"--resume continues a run with its own config; only --epochs may change. Received: "
                          f"{', '.join('--' + c.replace('_', '-') for c in changed)}")
    saved = run.config()
    if saved.get("command") != "train" or not isinstance(saved.get("config"), dict):
        raise ConfigError(f"{run.path} is not a `neuralab train` run; only those can be resumed")
    cfg = from_dict(TrainConfig, saved["config"], str(run.path / "config.json")).replace(**flat)
    run, result, _ = train(cfg, s, run=run, resume=True)
    print("test: " + ", ".join(f"{k} {v:.4f}" for k, v in result.test.items() if isinstance(v, (int, float))))
    print(f"run directory: {run.path}")
    return 0


def cmd_pretrain(ns: argparse.Namespace) -> int:
    from neuralab.train.pretrain import PretrainConfig, pretrain, weights_file

    run, result = pretrain(from_args(PretrainConfig, ns), settings(ns))
    print(f"test: {result.summary().headline}")
    print(f"weights: {weights_file(run)}  (use with --weights PATH)")
    return 0


def cmd_train_detector(ns: argparse.Namespace) -> int:
    from neuralab.train.detection import DetectTrainConfig, train_detector

    run, result, _ = train_detector(from_args(DetectTrainConfig, ns), settings(ns))
    print(result.summary().headline)
    print(f"run directory: {run.path}")
    return 0


def register(top: Any) -> None:
    from neuralab.models.detectors import DETECTORS
    from neuralab.train.config import TrainConfig
    from neuralab.train.detection import DetectTrainConfig
    from neuralab.train.pretrain import PretrainConfig

    p = sub(top, "train", "train a registered model on a dataset (writes a run directory); detection datasets train "
                          "a detector", ["neuralab train --dataset digits --epochs 5",
                                         "neuralab train --dataset mnist --model-args 'hidden=512,256 dropout=0.2' "
                                         "--epochs 10",
                                         "neuralab train --dataset shapes-det --epochs 3 --image-size 96",
                                         "neuralab train --resume 20260101-120000-mnist-mlp --epochs 20"])
    add_arguments(p, TrainConfig)
    p.add_argument("--resume", metavar="RUN", help="continue a killed run from its last checkpoint (--epochs N "
                                                   "continues it to N epochs)")
    p.set_defaults(func=cmd_train)
    p = sub(top, "pretrain", "pretrain a backbone on a source dataset, for transfer with --weights PATH",
            ["neuralab pretrain --dataset cifar10 --exclude-classes cat,dog --epochs 10",
             "neuralab pretrain --dataset imagefolder:~/photos --model resnet_small --model-args width=32"])
    add_arguments(p, PretrainConfig)
    p.set_defaults(func=cmd_pretrain)
    p = sub(top, "train-detector", f"train a detector ({', '.join(DETECTORS.names())}) with every detector option",
            ["neuralab train-detector --dataset shapes-det --epochs 10",
             "neuralab train-detector --dataset voc:~/VOCdevkit/VOC2012 --weights coco --image-size 320"])
    add_arguments(p, DetectTrainConfig)
    p.set_defaults(func=cmd_train_detector)
