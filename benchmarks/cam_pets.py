"""Localisation with a pretrained classifier on real photos: the ImageNet MobileNetV2's class activation maps on
every validation photo of cats_and_dogs_filtered (500 cats, 500 dogs), as `neuralab detect --method cam` makes them.

For each photo: is the top ImageNet class one of its cat or dog classes (the dog breeds 151-268, the domestic cats
281-285), is it the right species, and how much of the photo the CAM box covers (a box that is always the whole
photo localises nothing). Photos are shrunk to fit 224 px first, as the detection page does; the network stretches
them to its 224x224 input.

    NEURALAB_DATA=../shared/datasets NEURALAB_WEIGHTS=../shared/weights python benchmarks/cam_pets.py [--limit 0]

Last line: `ratio: <photos whose top class is a cat or dog class / photos>` (the issue's bar: >= 0.90).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from neuralab.config import Settings
from neuralab.experiments.detection_cam import shrunk_photo
from neuralab.tasks.explain import load_classifier, localize, pet_species

BATCH = 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="photos per class (0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings.resolve()
    folder = settings.data_dir / "cats_and_dogs_filtered" / "validation"
    photos = [(p, species) for species, sub in (("cat", "cats"), ("dog", "dogs"))
              for p in sorted((folder / sub).glob("*.jpg"))[:args.limit or None]]
    if not photos:
        raise SystemExit(f"no photos in {folder}/{{cats,dogs}}/: set NEURALAB_DATA to the shared datasets folder")
    clf = load_classifier("mobilenet_v2", settings.weights_dir)
    species_of = pet_species(clf.classes)
    pets = right = 0
    shares = []
    started = time.perf_counter()
    for start in range(0, len(photos), BATCH):
        chunk = photos[start:start + BATCH]
        images = [shrunk_photo(path) for path, _ in chunk]
        found, method = localize(clf, images, k=1, method="cam")
        for (f,), image, (_, truth) in zip(found, images, chunk):
            pets += f.label_id in species_of
            right += species_of.get(f.label_id) == truth
            if f.box:
                x1, y1, x2, y2 = f.box
                shares.append((x2 - x1) * (y2 - y1) / (image.shape[1] * image.shape[2]))
    seconds = time.perf_counter() - started
    n = len(photos)
    print(f"model: {clf.name}; method: {method}; {n} photos ({folder})")
    print(f"top class a cat or dog class: {pets}/{n} ({pets / n:.1%}); right species: {right}/{n} ({right / n:.1%})")
    print(f"CAM box share of the photo: median {statistics.median(shares):.0%}, min {min(shares):.0%}, "
          f"max {max(shares):.0%}; whole-photo boxes: {sum(s > 0.99 for s in shares)}")
    print(f"{n / seconds:.1f} photos/s (decode, CAM and box; {args.threads} threads)")
    print(f"ratio: {pets / n:.3f}")


if __name__ == "__main__":
    main()
