"""The one image reader: every entry point (folders, predict, detect, the service) decodes through `open_image`,
so a file means the same thing everywhere — upright, at its real brightness, within the pixel limit, or an error
that names it."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from neuralab.data import load_dataset
from neuralab.data.images import ImageTooLarge, open_image, to_array
from neuralab.errors import DataError


def _save(im: Image.Image, path, fmt: str | None = None, **kw) -> str:
    im.save(path, fmt, **kw)
    return str(path)


def test_exif_orientation_is_applied(tmp_path):
    """An upright picture stored sideways with EXIF orientation 6 was read sideways (a '7' classified as '4')."""
    upright = Image.new("L", (20, 40), 0)
    upright.paste(255, (0, 0, 20, 10))  # a bar across the top of a tall image
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera writes: the raw sensor orientation
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = _save(stored, tmp_path / "sideways.jpg", "JPEG", exif=exif, quality=95)
    im = open_image(path)
    assert im.size == (20, 40)
    a = np.asarray(im)
    assert a[:10].mean() > 200 and a[10:].mean() < 50


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    """A 16-bit PNG of a mid-grey digit read as white (every value clipped at 255)."""
    a = np.full((8, 8), 32768, np.uint16)
    a[2:6, 2:6] = 65535
    path = _save(Image.fromarray(a), tmp_path / "sixteen.png")
    x = to_array(open_image(path), None, "L")[0]
    assert x[0, 0] == 128 and x[3, 3] == 255


@pytest.mark.parametrize("mode, fmt", [("CMYK", "JPEG"), ("LAB", "TIFF"), ("LA", "PNG"), ("P", "PNG"),
                                       ("RGBA", "WEBP"), ("RGB", "TIFF"), ("I;16", "TIFF"), ("F", "TIFF"),
                                       ("1", "PNG"), ("YCbCr", "JPEG")])
def test_every_pillow_mode_converts(tmp_path, mode, fmt):
    im = Image.new(mode, (9, 7))
    path = _save(im, tmp_path / f"x.{fmt.lower()}", fmt)
    for target in ("RGB", "L"):
        x = to_array(open_image(path), (4, 4), target)
        assert x.shape == ((3 if target == "RGB" else 1), 4, 4) and x.dtype == np.uint8


def test_palette_transparency_is_white_and_animated_gifs_give_their_first_frame(tmp_path):
    p = Image.new("P", (6, 6), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.info["transparency"] = 0
    assert to_array(open_image(_save(p, tmp_path / "t.png")), None, "RGB").min() == 255
    frames = [Image.new("L", (5, 5), v) for v in (10, 200)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert abs(int(to_array(open_image(tmp_path / "a.gif"), None, "L").mean()) - 10) <= 2


def test_the_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path):
    """A 12000x12000 PNG of a few hundred KB drove detect to 6.2 GB; it is refused before decoding."""
    path = _save(Image.new("1", (12_000, 12_000)), tmp_path / "bomb.png")
    with pytest.raises(ImageTooLarge, match=r"bomb.png is 12000x12000 = 144,000,000 pixels"):
        open_image(path)
    assert open_image(path, max_pixels=200_000_000).size == (12_000, 12_000)


@pytest.mark.parametrize("content, message", [(b"", "empty|not an image"), (b"hello", "not an image"),
                                              ("truncated", "truncated|not an image")])
def test_bad_files_are_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
        content = buf.getvalue()[:600]
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as e:
        open_image(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_dangling_symlink_is_named(tmp_path):
    link = tmp_path / "gone.png"
    link.symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(DataError, match="gone.png does not exist"):
        open_image(link)


def _folder(root, per_class=3):
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (i * 40, 10, 10)).save(root / c / f"{i}.png")
    return root


def test_unreadable_files_in_a_folder_are_named_every_time_also_from_the_cache(settings, tmp_path):
    root = _folder(tmp_path / "pets")
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    (root / "dog" / "gone.png").symlink_to(tmp_path / "missing.png")
    for _ in range(2):  # the second load reads the decoded-array cache: the skipped files are still reported
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load_dataset(f"imagefolder:{root}", settings)
        text = " ".join(str(w.message) for w in caught)
        assert "skipped 2 unreadable" in text and "broken.png" in text and "gone.png" in text


def test_a_class_left_without_readable_images_is_an_error(settings, tmp_path):
    root = _folder(tmp_path / "pets", per_class=2)
    for f in (root / "dog").iterdir():
        f.write_bytes(b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=r"class\(es\) \['dog'\] have no readable image"):
            load_dataset(f"imagefolder:{root}", settings)
