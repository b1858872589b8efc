"""`neuralab explain`: where a classifier looks, as heat-map overlays (CAM, or Grad-CAM for any conv classifier)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neuralab.commands.common import sub


def cmd_explain(ns: argparse.Namespace) -> int:
    from neuralab.commands.predict import classifier
    from neuralab.tasks.detection import image_files
    from neuralab.tasks.explain import explain_files

    clf = classifier(ns.model, ns, ns.weights or "")
    records = explain_files(clf, image_files(ns.images), Path(ns.out), ns.top_k, ns.method, ns.max_pixels)
    for r in records:
        found = ", ".join(f"{c['label']} {c['score']:.2f}" for c in r["classes"])
        print(f"{r['image']}: {found} -> {', '.join(r['overlays'])}")
    print(f"explain.json and overlays in {ns.out}/")
    if ns.json:
        print(json.dumps(records))
    return 0


def register(top: Any) -> None:
    from neuralab.data.images import DEFAULT_MAX_PIXELS

    p = sub(top, "explain", "heat maps of where a classifier looks (class activation maps; Grad-CAM for any conv "
                            "classifier), drawn over the images with the box each map gives",
            ["neuralab explain mobilenet_v2 cat.jpg dog.jpg --weights-dir ../shared/weights",
             "neuralab explain ../shared/weights/mobilenet_v2_imagenet_tflite_dequant.pth photos/ --top-k 3",
             "neuralab explain runs/20260101-120000-cats-dogs photos/ --method gradcam --out explained/"])
    p.usage = "neuralab explain [options] RUN_OR_WEIGHTS IMAGE_OR_FOLDER [IMAGE_OR_FOLDER ...]"
    p.add_argument("model", metavar="RUN_OR_WEIGHTS", help="a classification run (folder, name or .safetensors), a "
                                                           "classifier's .pth weights file, or a backbone name "
                                                           "(mobilenet_v2, resnet18, ...: its ImageNet weights)")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    p.add_argument("--method", choices=["auto", "cam", "gradcam"], default="auto",
                   help="auto (default): CAM where the network ends in global pooling + one linear layer, else "
                        "Grad-CAM")
    p.add_argument("--top-k", type=int, default=1, help="an overlay for each of this many top classes (default: 1)")
    p.add_argument("--weights", help="with a backbone name: a weights file for it (default: its ImageNet weights)")
    p.add_argument("--arch", help="a .pth file that is not a known checkpoint: its architecture")
    p.add_argument("--out", default="explained", help="folder for the overlays and explain.json (default: "
                                                      "explained/)")
    p.add_argument("--json", action="store_true", help="also print the records as one JSON list")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images, width x "
                                                                              "height (default %(default)d)")
    p.set_defaults(func=cmd_explain)
