"""Oxford-IIIT Pet head boxes as a detection dataset: `pets-heads`, two classes (cat head, dog head).

The dataset's `annotations/xmls/<image>.xml` are Pascal-VOC files with one head box each (3,686 of its trainval
photos), in torchvision's layout: `<data>/oxford-iiit-pet/images/*.jpg` and `<data>/oxford-iiit-pet/annotations/
xmls/*.xml`; torchvision downloads both archives when online (`OxfordIIITPet(download=True)`, as `pets-cats-dogs`
does). Each box's class is its species: the object's <name> when it says cat or dog, else the species column of
`annotations/list.txt` (1 cat, 2 dog: what `pets-cats-dogs` reads), else the dataset's file-name rule (cat breeds'
files start with a capital letter, dog breeds' with a lower-case one).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from neuralab.data.base import short_path
from neuralab.data.detection import DetDataset, folder_dataset, read_voc
from neuralab.data.pets import download_pets, pets_root
from neuralab.data.registry import DataOptions, missing_data, register

CLASSES = ["cat", "dog"]
DEFAULT_SIZE = 320  # images are stretched to this square unless --image-size says otherwise (the photos vary)


def _files(opts: DataOptions) -> list[Path]:
    r = pets_root(opts)
    return [r / "annotations" / "xmls", r / "images"]


def _listed_species(root: Path) -> dict[str, str]:
    """Image name -> 'cat' or 'dog' from annotations/list.txt (`<name> <breed> <species 1|2> <breed id>`)."""
    listing = root / "annotations" / "list.txt"
    if not listing.is_file():
        return {}
    out = {}
    for line in listing.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#") and parts[2] in ("1", "2"):
            out[parts[0]] = CLASSES[int(parts[2]) - 1]
    return out


def species_rule(listed: dict[str, str]):
    """relabel(xml, object name) -> 'cat' or 'dog', by the object's name, the listing, then the file name."""
    def relabel(xml: Path, name: str) -> str:
        if name.lower() in CLASSES:
            return name.lower()
        return listed.get(xml.stem) or ("cat" if xml.stem[:1].isupper() else "dog")

    return relabel


@register("pets-heads", "detection: Oxford-IIIT Pet head boxes, cat vs dog (3,686 photos, VOC xmls)", files=_files,
          task="detection")
def load_pets_heads(opts: DataOptions) -> DetDataset:
    xmls_dir, images = _files(opts)
    cause = download_pets(opts) if opts.download and not (xmls_dir.is_dir() and images.is_dir()) else ""
    xmls = sorted(xmls_dir.glob("*.xml")) if xmls_dir.is_dir() else []
    if not xmls or not images.is_dir():
        raise missing_data("Oxford-IIIT Pet head boxes", [xmls_dir / "<image>.xml", images / "<image>.jpg"],
                           hint="Both come in torchvision's Oxford-IIIT Pet archives (images.tar.gz, "
                                "annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/), extracted "
                                "into oxford-iiit-pet/.", cause=cause)
    opts = replace(opts, image_size=opts.image_size or DEFAULT_SIZE)
    records, classes, skipped = read_voc(xmls, images, CLASSES, species_rule(_listed_species(pets_root(opts))),
                                         opts.image_size)
    return folder_dataset("pets-heads", records, classes, opts, short_path(pets_root(opts)), skipped)
