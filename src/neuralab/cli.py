"""The `neuralab` command. Thin by design: parse options into a config, call a library function, print.

Every subcommand's options come from a config dataclass (`neuralab.config.add_arguments`), and `neuralab run`
has one sub-command per registered experiment, so new experiments appear here without editing this file.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Sequence

from neuralab import __version__
from neuralab.config import Settings, add_arguments, from_args
from neuralab.errors import NeuralabError


def _settings(ns: argparse.Namespace) -> Settings:
    return Settings.resolve(runs_dir=getattr(ns, "runs_dir", None), data_dir=getattr(ns, "data_dir", None),
                            download=False if getattr(ns, "no_download", False) else None,
                            device=getattr(ns, "device", None), weights_dir=getattr(ns, "weights_dir", None))


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("where things live")
    g.add_argument("--runs-dir", help="root of run directories (default: $NEURALAB_RUNS or ./runs)")
    g.add_argument("--data-dir", help="data root (default: $NEURALAB_DATA or ~/.cache/neuralab)")
    g.add_argument("--weights-dir", help="local pretrained checkpoints, e.g. torchvision's resnet18-f37072fd.pth "
                                         "(default: $NEURALAB_WEIGHTS or ~/.cache/neuralab/weights)")
    g.add_argument("--no-download", action="store_true", help="never download; fail if data is missing")
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="training device (default: auto)")
    g.add_argument("--tensorboard", action="store_true", help="also log metrics for TensorBoard (<run>/tensorboard)")
    return p


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _sub(subs: Any, name: str, help: str, examples: Sequence[str], common: bool = True) -> argparse.ArgumentParser:
    return subs.add_parser(name, help=help, description=help, epilog=_examples(*examples),
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           parents=[_common()] if common else [])


# -- data ---------------------------------------------------------------------------------------------------
def cmd_data_list(ns: argparse.Namespace) -> int:
    from neuralab.data import DATASETS
    from neuralab.data.registry import options

    opts = options(_settings(ns))
    print(f"data root: {opts.data_dir}")
    for name, spec in DATASETS.items():
        if spec.kind in ("generated", "bundled"):
            status = spec.kind
        elif spec.kind == "custom":
            status = "your folder"
        else:
            status = "available" if not spec.missing_files(opts) else "missing (download or place files)"
        print(f"  {name:20s} {status:34s} {spec.description}")
    return 0


def cmd_data_info(ns: argparse.Namespace) -> int:
    from neuralab.data import load_dataset

    d = load_dataset(ns.name, _settings(ns))
    print(json.dumps(d.describe(), indent=2))
    return 0


def cmd_data_check(ns: argparse.Namespace) -> int:
    from neuralab.data import DATASETS, load_dataset, parse_name
    from neuralab.data.registry import options, verify_checksums

    settings = _settings(ns)
    base, arg = parse_name(ns.name)
    for line in verify_checksums(DATASETS.get(base), options(settings, arg=arg)):
        print(line)
    d = load_dataset(ns.name, settings)
    sizes = ", ".join(f"{k} {v}" for k, v in d.describe()["sizes"].items())
    print(f"ok: {d.name} loads from {d.source}: {sizes}; input {d.input_shape}")
    for note in d.notes:
        print(f"note: {note}")
    return 0


# -- train / run --------------------------------------------------------------------------------------------
def cmd_train(ns: argparse.Namespace) -> int:
    from neuralab.runs import find_run
    from neuralab.train import TrainConfig, train

    settings = _settings(ns)
    if ns.resume:
        from neuralab.config import from_dict
        from neuralab.runs import Run

        run = find_run(ns.resume, settings.runs_dir)
        cfg = from_dict(TrainConfig, Run.open(run.path).config()["config"])
        run, summary, _ = train(cfg, settings, run=run, resume=True)
    else:
        cfg = from_args(TrainConfig, ns)
        run, summary, _ = train(cfg, settings)
    print("test: " + json.dumps({k: v for k, v in summary["test"].items() if isinstance(v, (int, float))}))
    print(f"run directory: {run.path}")
    return 0


def cmd_pretrain(ns: argparse.Namespace) -> int:
    from neuralab.train.pretrain import PretrainConfig, pretrain

    run, summary = pretrain(from_args(PretrainConfig, ns), _settings(ns))
    print(f"test: {json.dumps(summary['test'])}")
    print(f"weights: {summary['weights']}  (use with --weights PATH)")
    return 0


def cmd_run(ns: argparse.Namespace) -> int:
    from neuralab.experiments import EXPERIMENTS, run_experiment

    exp = EXPERIMENTS.get(ns.experiment)
    cfg = from_args(exp.config, ns)
    run, _ = run_experiment(exp.name, cfg, _settings(ns))
    print(f"report: {run.path / 'report.md'}")
    return 0


# -- predict: a local run, or a running service with --url ------------------------------------------------------
def cmd_predict(ns: argparse.Namespace) -> int:
    if ns.model and not ns.url:
        raise NeuralabError(f"--model {ns.model} names a served model; give the service with --url URL")
    if ns.url:
        return _predict_remote(ns)
    from neuralab.errors import CheckpointError
    from neuralab.train.checkpoint import load_model
    from neuralab.train.predict import open_image, top_k

    if len(ns.items) < 2:
        raise NeuralabError(f"give a run or checkpoint and at least one image (or --url URL); received {ns.items}")
    ref: Any = ns.items[0]
    if not Path(ref).exists():
        from neuralab.runs import find_run

        try:
            ref = find_run(ns.items[0], _settings(ns).runs_dir).path
        except NeuralabError:
            raise CheckpointError(f"no checkpoint or run named {ns.items[0]!r}") from None
    model, meta = load_model(ref)
    images = ns.items[1:]
    for path, preds in zip(images, top_k(model, meta, [open_image(p) for p in images], ns.top_k)):
        print(f"{path}: " + "  ".join(f"{name} {p:.4f}" for name, p in preds))
    return 0


def _predict_remote(ns: argparse.Namespace) -> int:
    from neuralab.serve.client import predict_remote

    for r in predict_remote(ns.url, ns.model, ns.items, ns.top_k):
        p = r["predictions"][0]
        what = "  ".join(f"{t['class']} {t['probability']:.4f}" for t in p["top"]) if "top" in p else p
        print(f"{r['image']}: {what}")
    return 0


# -- runs ---------------------------------------------------------------------------------------------------
def _headline(summary: dict[str, Any]) -> str:
    test = summary.get("test", {})
    if isinstance(test, dict):
        for k in ("accuracy", "rmse", "map50"):
            if isinstance(test.get(k), (int, float)):
                return f"test {k} {test[k]:.4f}"
    return ""


def cmd_runs_list(ns: argparse.Namespace) -> int:
    from neuralab.runs import list_runs

    settings = _settings(ns)
    runs = list_runs(settings.runs_dir)
    if not runs:
        print(f"no runs in {settings.runs_dir}")
    for r in runs:
        cfg = r.config()
        what = cfg.get("experiment") or cfg.get("command", "")
        print(f"  {r.name:50s} {what:18s} {_headline(r.summary())}")
    return 0


def cmd_runs_show(ns: argparse.Namespace) -> int:
    from neuralab.runs import find_run

    run = find_run(ns.run, _settings(ns).runs_dir)
    print(f"run: {run.path}")
    print("config:", json.dumps(run.config().get("config", run.config()), indent=2))
    print("summary:", json.dumps(run.summary(), indent=2))
    for row in run.metrics()[-4:]:
        print("metrics:", json.dumps(row))
    files = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file())
    print("files:", ", ".join(files[:40]) + (" ..." if len(files) > 40 else ""))
    return 0


def cmd_runs_compare(ns: argparse.Namespace) -> int:
    from neuralab.report.compare import compare_figure, compare_table
    from neuralab.report.markdown import table
    from neuralab.runs import atomic_write_bytes, find_run

    settings = _settings(ns)
    runs = [find_run(r, settings.runs_dir) for r in ns.runs]
    header, rows = compare_table(runs)
    print(table(header, rows))
    import io

    buf = io.BytesIO()
    compare_figure(runs).savefig(buf, format="png", dpi=110, bbox_inches="tight")
    out = Path(ns.out)
    atomic_write_bytes(out, buf.getvalue())
    print(f"curves: {out}")
    return 0


def cmd_report(ns: argparse.Namespace) -> int:
    from neuralab.report.site import build_site

    paths = [Path(p) for p in ns.runs] or [_settings(ns).runs_dir]
    index = build_site(paths, Path(ns.out))
    print(f"report: {index}")
    return 0


# -- serve: export, serve (issue 8) -----------------------------------------------------------------------------
def cmd_export(ns: argparse.Namespace) -> int:
    from neuralab.serve.export import export

    print(f"export: {export(ns.run, ns.format, ns.out)}")
    return 0


def cmd_serve(ns: argparse.Namespace) -> int:
    from neuralab.serve.app import ServeConfig, serve
    from neuralab.serve.preprocess import Limits

    if ns.max_upload_mb <= 0 or ns.max_pixels <= 0:
        raise NeuralabError(f"upload limits must be positive; received --max-upload-mb {ns.max_upload_mb}, "
                            f"--max-pixels {ns.max_pixels}")
    limits = Limits(max_bytes=int(ns.max_upload_mb * 1024 * 1024), max_pixels=ns.max_pixels)
    cfg = ServeConfig(backend=ns.backend, threads=ns.threads, max_batch=ns.max_batch, max_wait_ms=ns.max_wait_ms,
                      queue=ns.queue, batching=not ns.no_batching, limits=limits)
    serve(ns.models, ns.host, ns.port, cfg)
    return 0


def add_serve_commands(top: Any) -> None:
    from neuralab.serve.preprocess import Limits

    p = _sub(top, "export", "export a run's model to ONNX or TorchScript (checked against PyTorch)",
             ["neuralab export runs/20260101-120000-digits-mlp --format onnx"], common=False)
    p.add_argument("run", help="run directory or model .safetensors file")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", help="output folder (default: RUN/export)")
    p.set_defaults(func=cmd_export)
    p = _sub(top, "serve", "serve models over HTTP (FastAPI): /v1/models, /docs and a web page at /",
             ["neuralab serve runs/20260101-120000-digits-mlp          # served as digits-mlp",
              "neuralab serve RUN_A RUN_B --backend onnxruntime",
              "neuralab serve small=runs/X big=runs/Y/export --max-upload-mb 2 --max-pixels 4000000"],
             common=False)
    p.add_argument("models", nargs="+", metavar="[NAME=]MODEL",
                   help="run directories, checkpoints or export folders (read at start-up only); served under "
                        "the run's name without its time stamp, or NAME")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    p.add_argument("--threads", type=int, default=0,
                   help="inference threads (default 0: every core but one, which is left to HTTP and decoding)")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--queue", type=int, default=256, help="waiting requests before the service answers 503")
    p.add_argument("--no-batching", action="store_true", help="run each request on its own (batch 1)")
    p.add_argument("--max-upload-mb", type=float, default=Limits.max_bytes / 2**20,
                   help="largest image upload in MiB; larger answers 413 (default %(default)g)")
    p.add_argument("--max-pixels", type=int, default=Limits.max_pixels,
                   help="largest decoded image, width x height; larger answers 413 (default %(default)d)")
    p.set_defaults(func=cmd_serve)


# -- parser -------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from neuralab.experiments import EXPERIMENTS
    from neuralab.train import TrainConfig

    parser = argparse.ArgumentParser(
        prog="neuralab", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="neuralab: a deep-learning curriculum as tested, fast, runnable commands.",
        epilog=_examples("neuralab data list", "neuralab train --dataset digits --epochs 5",
                         "neuralab run demo", "neuralab runs list"))
    parser.add_argument("--version", action="version", version=f"neuralab {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = top.add_parser("data", help="list, inspect and check datasets", description="list, inspect and check datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = _sub(dsub, "list", "registered datasets and whether their files are present", ["neuralab data list"])
    p.set_defaults(func=cmd_data_list)
    for name, fn, help in (("info", cmd_data_info, "load a dataset and print its splits, classes and statistics"),
                           ("check", cmd_data_check, "verify a dataset's files (checksums where published) and load it")):
        p = _sub(dsub, name, help, [f"neuralab data {name} moons", f"neuralab data {name} mnist --data-dir ~/data",
                                    f"neuralab data {name} imagefolder:./my_photos"])
        p.add_argument("name", help="dataset name, or imagefolder:PATH")
        p.set_defaults(func=fn)

    p = _sub(top, "train", "train a registered model on a dataset (writes a run directory)",
             ["neuralab train --dataset digits --epochs 5",
              "neuralab train --dataset mnist --model-args 'hidden=512,256 dropout=0.2' --epochs 10",
              "neuralab train --resume 20260101-120000-mnist-mlp"])
    add_arguments(p, TrainConfig)
    p.add_argument("--resume", metavar="RUN", help="continue a killed run from its last checkpoint")
    p.set_defaults(func=cmd_train)

    from neuralab.train.pretrain import PretrainConfig

    p = _sub(top, "pretrain", "pretrain a backbone on a source dataset, for transfer with --weights PATH",
             ["neuralab pretrain --dataset cifar10 --exclude-classes cat,dog --epochs 10",
              "neuralab pretrain --dataset imagefolder:~/photos --model resnet_small --model-args width=32"])
    add_arguments(p, PretrainConfig)
    p.set_defaults(func=cmd_pretrain)

    run = top.add_parser("run", help="run a named experiment or mini-project",
                         description="Run a named experiment; `neuralab run NAME --help` lists its options.")
    rsub = run.add_subparsers(dest="experiment", metavar="NAME", required=True)
    for name, exp in EXPERIMENTS.items():
        p = _sub(rsub, name, exp.description, exp.examples or [f"neuralab run {name}"])
        add_arguments(p, exp.config)
        p.set_defaults(func=cmd_run)

    # -- predict: local or --url --
    p = _sub(top, "predict", "top-k classes of image files, from a trained run or from a running `neuralab serve`",
             ["neuralab predict mnist-mlp digit.png",
              "neuralab predict runs/X/checkpoints/model.safetensors a.png b.jpg --top-k 5",
              "neuralab predict --url http://127.0.0.1:8000 a.png                    # the service's only model",
              "neuralab predict --url http://127.0.0.1:8000 --model digits-mlp a.png b.png"])
    p.usage = ("neuralab predict [options] RUN_OR_CKPT IMAGE [IMAGE ...]\n"
               "       neuralab predict [options] --url URL [--model NAME] IMAGE [IMAGE ...]")
    p.add_argument("items", nargs="+", metavar="RUN_OR_CKPT IMAGE",
                   help="a run directory or name, or a .safetensors file, then image files of any size and mode; "
                        "with --url, image files only")
    p.add_argument("--top-k", type=int, default=3, help="how many classes to print per image")
    g = p.add_argument_group("a running service (neuralab serve)")
    g.add_argument("--url", help="the service's address, e.g. http://127.0.0.1:8000")
    g.add_argument("--model", help="the served model's name (default: the service's only model)")
    p.set_defaults(func=cmd_predict)

    runs = top.add_parser("runs", help="list and inspect run directories", description="list and inspect runs")
    rs = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = _sub(rs, "list", "every run under the runs folder with its headline number", ["neuralab runs list"])
    p.set_defaults(func=cmd_runs_list)
    p = _sub(rs, "show", "a run's config, summary, last metrics and files",
             ["neuralab runs show quickstart", "neuralab runs show runs/20260101-120000-digits-mlp"])
    p.add_argument("run", help="run directory, its name, or the end of its name (newest match)")
    p.set_defaults(func=cmd_runs_show)
    p = _sub(rs, "compare", "final metrics side by side and overlaid validation curves of several runs",
             ["neuralab runs compare digits-mlp moons-mlp", "neuralab runs compare RUN_A RUN_B --out cmp.png"])
    p.add_argument("runs", nargs="+", help="runs (directories, names or name endings)")
    p.add_argument("--out", default="compare.png", help="where to write the overlaid curves (PNG)")
    p.set_defaults(func=cmd_runs_compare)

    p = _sub(top, "report", "build the static HTML portfolio (open index.html) from run directories",
             ["neuralab report", "neuralab report runs/ --out report/",
              "neuralab report runs/20260101-120000-mnist"])
    p.add_argument("runs", nargs="*", help="run directories or folders of runs (default: the runs folder)")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.set_defaults(func=cmd_report)
    add_serve_commands(top)
    add_detection_commands(top)
    return parser


# -- detection (issue 7) ------------------------------------------------------------------------------------
def cmd_detect(ns: argparse.Namespace) -> int:
    from neuralab.models.detect_infer import detect_files

    records = detect_files(ns.model, ns.inputs, ns.weights, ns.score, ns.out, ns.weights_backbone)
    for r in records:
        found = ", ".join(f"{d['label']} {d['score']:.2f}" for d in r["detections"]) or "nothing"
        print(f"{r['image']} ({r['width']}x{r['height']}): {found}")
    if ns.out:
        print(f"detections: {Path(ns.out) / 'detections.json'}; drawn images in {ns.out}/")
    if ns.json:
        print(json.dumps(records))
    return 0


def cmd_train_detector(ns: argparse.Namespace) -> int:
    from neuralab.train.detection import DetectTrainConfig, train_detector

    run, summary, _ = train_detector(from_args(DetectTrainConfig, ns), _settings(ns))
    print(f"test: {json.dumps(summary['test'])}")
    print(f"run directory: {run.path}")
    return 0


def cmd_eval_detector(ns: argparse.Namespace) -> int:
    from neuralab.train.detection_eval import eval_detector

    result = eval_detector(ns.dataset, ns.model, ns.weights, _settings(ns), ns.image_size, ns.batch_size)
    print(json.dumps(result, indent=2))
    return 0


def add_detection_commands(top: Any) -> None:
    from neuralab.models.detectors import DETECTORS
    from neuralab.train.detection import DetectTrainConfig

    models = ", ".join(DETECTORS.names())
    p = _sub(top, "detect", "detect objects in images: boxes as JSON and images with the boxes drawn",
             ["neuralab detect photo.jpg --model ssdlite320_mobilenet_v3_large --weights coco --out detections/",
              "neuralab detect ./images --model runs/20260101-120000-shapes-det-ssdlite320 --score 0.5"])
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    p.add_argument("--model", required=True, help=f"a train-detector run or checkpoint, or a detector: {models}")
    p.add_argument("--weights", default="coco", help="for a detector name: 'coco', a .safetensors/.pth file, or "
                                                     "'none' (default: coco)")
    p.add_argument("--weights-backbone", default="none", help="for --weights none: 'imagenet' or 'none'")
    p.add_argument("--score", type=float, default=0.5, help="keep detections scoring at least this (default: 0.5)")
    p.add_argument("--out", help="folder for detections.json and the drawn PNGs")
    p.add_argument("--json", action="store_true", help="also print the records as one JSON list")
    p.set_defaults(func=cmd_detect)

    p = _sub(top, "train-detector", "fine-tune a MobileNetV3 detector on detection data (writes a run directory)",
             ["neuralab train-detector --dataset shapes-det --epochs 10",
              "neuralab train-detector --dataset voc:~/VOCdevkit/VOC2012 --weights coco --image-size 320"])
    add_arguments(p, DetectTrainConfig)
    p.set_defaults(func=cmd_train_detector)

    p = _sub(top, "eval-detector", "box mAP of a detector on a COCO or VOC folder (every image in it)",
             ["neuralab eval-detector --dataset coco:~/coco/val2017 --model ssdlite320_mobilenet_v3_large "
              "--weights coco", "neuralab eval-detector --dataset voc:./my_boxes --model runs/RUN"])
    p.add_argument("--dataset", required=True, help="coco:PATH, voc:PATH, shapes-det, digits-det")
    p.add_argument("--model", required=True, help=f"a train-detector run or checkpoint, or a detector: {models}")
    p.add_argument("--weights", default="coco", help="for a detector name: 'coco' or a .safetensors/.pth file")
    p.add_argument("--image-size", type=int, help="stretch images to this square (default: keep their size)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default: 8)")
    p.set_defaults(func=cmd_eval_detector)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = ns.func
    if getattr(ns, "tensorboard", False):
        import os

        os.environ["NEURALAB_TENSORBOARD"] = "1"  # Run.log reads it; child runs and sub-experiments inherit it
    from neuralab.train.trainer import Preempted

    try:
        return func(ns)
    except Preempted as e:  # a preempted job is not a failure: the checkpoint is written, --resume continues
        print(str(e), file=sys.stderr)
        return 0
    except NeuralabError as e:
        print(f"error: {textwrap.indent(str(e), '  ').strip()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted. A training run can continue with `neuralab train --resume RUN`.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
