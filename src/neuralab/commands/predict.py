"""`neuralab predict` (any task: the model card says which), `detect`, `eval` and `eval-detector`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neuralab.commands.common import model_run, settings, sub
from neuralab.errors import NeuralabError


def _print_answer(name: str, answer: dict[str, Any]) -> None:
    if "top" in answer:
        print(f"{name}: " + "  ".join(f"{t['class']} {t['probability']:.4f}" for t in answer["top"]))
    elif "detections" in answer:
        found = ", ".join(f"{d['label']} {d['score']:.2f}" for d in answer["detections"]) or "nothing"
        print(f"{name} ({answer['width']}x{answer['height']}): {found}")
    else:
        print(f"{name}: {answer}")


def cmd_predict(ns: argparse.Namespace) -> int:
    from neuralab.data.images import open_image
    from neuralab.models.checkpoint import load_model
    from neuralab.serve.client import predict_remote
    from neuralab.tasks import for_card

    if ns.model and not ns.url:
        raise NeuralabError(f"--model {ns.model} names a served model; give the service with --url URL")
    if ns.url:
        for r in predict_remote(ns.url, ns.model, ns.items, ns.top_k):
            _print_answer(r["image"], r["predictions"][0])
        return 0
    if len(ns.items) < 2:
        raise NeuralabError(f"give a run or checkpoint and at least one image (or --url URL); received {ns.items}")
    model, card = load_model(model_run(ns.items[0], ns))
    images = ns.items[1:]
    answers = for_card(card).predict(model, card, [open_image(p, ns.max_pixels) for p in images], ns.top_k)
    for path, answer in zip(images, answers):
        _print_answer(path, answer)
    return 0


def cmd_detect(ns: argparse.Namespace) -> int:
    from neuralab.models.detectors import load_detector
    from neuralab.tasks.detection import detect_files, image_files

    files = image_files(ns.inputs)
    out = Path(ns.out) if ns.out else None
    if ns.method != "detector":
        from neuralab.tasks.explain import cam_detect_files

        clf = classifier(ns.model, ns, ns.weights if ns.weights != "coco" else "")
        records = cam_detect_files(clf, files, ns.score if ns.score is not None else 0.0, out, ns.top_k,
                                   "auto" if ns.method == "cam" else ns.method, ns.max_pixels)
    else:
        named = ns.model in _detector_names() and not Path(ns.model).exists()
        ref = ns.model if named else str(model_run(ns.model, ns))
        model, meta = load_detector(ref, ns.weights, ns.weights_backbone, weights_dir=settings(ns).weights_dir)
        records = detect_files(model, meta, files, 0.5 if ns.score is None else ns.score, out, ns.max_pixels)
    for r in records:
        _print_answer(r["image"], r)
    if ns.out:
        print(f"detections: {Path(ns.out) / 'detections.json'}; drawn images in {ns.out}/")
    if ns.json:
        print(json.dumps(records))
    return 0


def classifier(ref: str, ns: argparse.Namespace, weights: str = "") -> Any:
    """A classifier to explain: a backbone name (its ImageNet weights, or `weights` as a file), a weights file, or
    a run (by folder, file or name)."""
    from neuralab.models.backbone_specs import BACKBONES
    from neuralab.tasks.explain import load_classifier

    weights_dir = settings(ns).weights_dir
    if ref in BACKBONES and weights not in ("", "imagenet", "none"):
        return load_classifier(weights, weights_dir, arch=ref)
    path = Path(ref).expanduser()
    direct = (ref in BACKBONES and not path.exists()) or path.suffix in (".pth", ".pt", ".bin")
    return load_classifier(ref if direct else model_run(ref, ns), weights_dir, getattr(ns, "arch", "") or "")


def _detector_names() -> list[str]:
    from neuralab.models.detectors import DETECTORS

    return DETECTORS.names()


def cmd_eval(ns: argparse.Namespace) -> int:
    from neuralab.models.checkpoint import load_model
    from neuralab.tasks import for_card

    model, card = load_model(model_run(ns.model, ns))
    result = for_card(card).evaluate(model, card, ns.dataset or "", settings(ns), ns.split)
    print(json.dumps(result, indent=None if ns.json else 2))
    return 0


def cmd_eval_detector(ns: argparse.Namespace) -> int:
    from neuralab.train.detection_eval import eval_detector

    print(json.dumps(eval_detector(ns.dataset, ns.model, ns.weights, settings(ns), ns.image_size, ns.batch_size),
                     indent=2))
    return 0


def _register_detect(top: Any, max_pixels: int) -> None:
    """`detect`: a detector's boxes, or boxes from a classifier's class activation maps (--method cam)."""
    p = sub(top, "detect", "detect objects in images: boxes as JSON and images with the boxes drawn (by a "
                           "detector, or from a classifier's class activation maps)",
            ["neuralab detect photo.jpg --model ssdlite320_mobilenet_v3_large --weights coco --out detections/",
             "neuralab detect ./images --model runs/20260101-120000-shapes-det-ssdlite320 --score 0.5",
             "neuralab detect photos/ --method cam --model mobilenet_v2 --weights-dir ../shared/weights --out cam/"])
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    p.add_argument("--model", required=True, help=f"a detector run or checkpoint, or a detector: "
                                                  f"{', '.join(_detector_names())}; with --method cam: a classifier "
                                                  f"(a backbone name such as mobilenet_v2, a weights file, or a run)")
    p.add_argument("--method", choices=["detector", "cam", "gradcam"], default="detector",
                   help="detector (default); cam: boxes from the top-k classes' class activation maps (Grad-CAM "
                        "where the network does not end in pooling + linear); gradcam: always Grad-CAM")
    p.add_argument("--weights", default="coco", help="for a detector name: 'coco' (the weights folder, then torch's "
                                                     "cache or a download), a .safetensors/.pth file, or 'none' "
                                                     "(default: coco); with --method cam and a backbone name: a "
                                                     "weights file (default: its ImageNet weights)")
    p.add_argument("--weights-backbone", default="none", help="for --weights none: the trunk's weights, 'imagenet', "
                                                              "a classifier's weights file, or 'none'")
    p.add_argument("--top-k", type=int, default=1, help="--method cam: boxes for this many top classes (default: 1)")
    p.add_argument("--arch", help="--method cam with a .pth file that is not a known checkpoint: its architecture")
    p.add_argument("--score", type=float, help="keep detections scoring at least this (default: 0.5 for a "
                                               "detector; 0 for --method cam, whose score is the class probability)")
    p.add_argument("--out", help="folder for detections.json and the drawn PNGs")
    p.add_argument("--json", action="store_true", help="also print the records as one JSON list")
    p.add_argument("--max-pixels", type=int, default=max_pixels, help="refuse larger images, width x "
                                                                              "height (default %(default)d)")
    p.set_defaults(func=cmd_detect)


def register(top: Any) -> None:
    from neuralab.data.images import DEFAULT_MAX_PIXELS

    p = sub(top, "predict", "a trained model's answers for image files (classes, values or boxes: the model's card "
                            "says which), locally or from a running `neuralab serve`",
            ["neuralab predict mnist-mlp digit.png",
             "neuralab predict runs/X/checkpoints/model.safetensors a.png b.jpg --top-k 5",
             "neuralab predict --url http://127.0.0.1:8000 a.png                    # the service's only model",
             "neuralab predict --url http://127.0.0.1:8000 --model digits-mlp a.png b.png"])
    p.usage = ("neuralab predict [options] RUN_OR_CKPT IMAGE [IMAGE ...]\n"
               "       neuralab predict [options] --url URL [--model NAME] IMAGE [IMAGE ...]")
    p.add_argument("items", nargs="+", metavar="RUN_OR_CKPT IMAGE",
                   help="a run directory or name, or a .safetensors file, then image files of any size and mode; "
                        "with --url, image files only")
    p.add_argument("--top-k", type=int, default=3, help="how many classes (or boxes) to print per image")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images, width x "
                                                                              "height (default %(default)d)")
    g = p.add_argument_group("a running service (neuralab serve)")
    g.add_argument("--url", help="the service's address, e.g. http://127.0.0.1:8000")
    g.add_argument("--model", help="the served model's name (default: the service's only model)")
    p.set_defaults(func=cmd_predict)

    _register_detect(top, DEFAULT_MAX_PIXELS)

    p = sub(top, "eval", "a trained model's metrics on a dataset split (its own training data by default)",
            ["neuralab eval digits-mlp", "neuralab eval runs/X --dataset mnist --split val"])
    p.add_argument("model", help="a run directory or name, or a .safetensors file")
    p.add_argument("--dataset", help="dataset to evaluate on (default: the one the model was trained on)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--json", action="store_true", help="one line of JSON")
    p.set_defaults(func=cmd_eval)

    p = sub(top, "eval-detector", "box mAP of a detector on a COCO or VOC folder (every image in it)",
            ["neuralab eval-detector --dataset coco:~/coco/val2017 --model ssdlite320_mobilenet_v3_large "
             "--weights coco", "neuralab eval-detector --dataset voc:./my_boxes --model runs/RUN"])
    p.add_argument("--dataset", required=True, help="coco:PATH, voc:PATH, shapes-det, digits-det")
    p.add_argument("--model", required=True, help="a detector run or checkpoint, or a detector name")
    p.add_argument("--weights", default="coco", help="for a detector name: 'coco' or a .safetensors/.pth file")
    p.add_argument("--image-size", type=int, help="stretch images to this square (default: keep their size)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default: 8)")
    p.set_defaults(func=cmd_eval_detector)
