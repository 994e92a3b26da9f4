"""Importing images: folders, manifests and samples; every rejection reason is reported
and the rest of the import still goes through."""

import csv
import hashlib
import io
import os

import PIL.Image
import pytest
from django.core.management import CommandError, call_command

from inference.labelsets import imagenet_1k
from inference.models import Image, ImageSet
from inference.services.images import ImportSourceError, Source, import_sources, sources_from_path
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db


def run_import(sources, max_pixels=1_000_000, name="set"):
    image_set, _ = ImageSet.objects.get_or_create(name=name)
    return import_sources(sources, image_set, imagenet_1k(), max_pixels), image_set


def write_image(path, mode="RGB", size=(20, 10), fmt="PNG", color=None, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = (
        color
        if color is not None
        else {
            "RGB": (10, 20, 30),
            "RGBA": (10, 20, 30, 0),
            "CMYK": (0, 50, 100, 0),
            "L": 77,
            "LA": (77, 0),
            "P": 3,
            "I;16": 40000,
        }[mode]
    )
    PIL.Image.new(mode, size, color).save(path, format=fmt, **save)
    return path


def test_a_folder_of_class_subfolders_imports_with_labels_by_wordnet_id_or_name(tmp_path):
    write_image(tmp_path / "n01440764" / "a.png", color=(1, 2, 3))
    write_image(tmp_path / "espresso" / "b.png", color=(4, 5, 6))
    write_image(tmp_path / "loose.png", color=(7, 8, 9))
    report, image_set = run_import(sources_from_path(tmp_path))
    assert len(report.imported) == 3 and not report.rejected
    labels = dict(Image.objects.values_list("original_name", "true_class"))
    assert labels == {"n01440764/a.png": "n01440764", "espresso/b.png": "n07920052", "loose.png": ""}
    assert Image.objects.get(true_class="n07920052").true_label == "espresso"
    assert image_set.images.count() == 3


def test_a_csv_manifest_imports_paths_relative_to_it(tmp_path):
    write_image(tmp_path / "pics" / "one.png", color=(1, 1, 1))
    write_image(tmp_path / "pics" / "two.jpg", fmt="JPEG", color=(200, 1, 1))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label\npics/one.png,tench\npics/two.jpg,\n")
    report, _ = run_import(sources_from_path(manifest))
    assert len(report.imported) == 2
    assert Image.objects.get(original_name="pics/one.png").true_class == "n01440764"
    jpeg = Image.objects.get(original_name="pics/two.jpg")
    assert jpeg.format == "JPEG" and jpeg.conversion == ""


def test_files_are_content_addressed_and_stored_byte_for_byte(tmp_path):
    data = png_bytes(color=(9, 9, 9))
    (tmp_path / "x.png").write_bytes(data)
    report, _ = run_import([Source(tmp_path / "x.png", "", "x.png")])
    image = report.imported[0]
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert image.file.name == f"images/{image.sha256[:2]}/{image.sha256}.png"
    assert image.file.read() == data


def test_the_same_content_twice_is_one_image_reported_as_a_duplicate(tmp_path):
    data = png_bytes(color=(5, 5, 5))
    (tmp_path / "a.png").write_bytes(data)
    (tmp_path / "b.png").write_bytes(data)
    report, image_set = run_import(sources_from_path(tmp_path))
    assert len(report.imported) == 1 and len(report.duplicates) == 1
    assert Image.objects.count() == 1
    again, other_set = run_import(sources_from_path(tmp_path), name="other")
    assert len(again.duplicates) == 2 and Image.objects.count() == 1
    assert other_set.images.count() == 1


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("L", "L→RGB"),
        ("P", "P→RGB"),
        ("CMYK", "CMYK→RGB"),
        ("RGBA", "RGBA→RGB"),
        ("LA", "LA→RGB"),
        ("I;16", "I;16→RGB"),
    ],
)
def test_non_rgb_images_convert_to_rgb_png_and_the_conversion_is_recorded(tmp_path, mode, expected):
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    path = write_image(tmp_path / f"img.{fmt.lower()}", mode=mode, fmt=fmt)
    report, _ = run_import([Source(path, "", path.name)])
    image = report.imported[0]
    assert expected in image.conversion
    assert image.format == "PNG"
    stored = PIL.Image.open(image.file)
    assert stored.mode == "RGB" and stored.size == (20, 10)


def test_transparent_pixels_become_white_and_16_bit_grey_is_scaled_not_clipped(tmp_path):
    rgba = write_image(tmp_path / "a.png", mode="RGBA", color=(10, 20, 30, 0))
    grey16 = write_image(tmp_path / "g.tif", mode="I;16", fmt="TIFF", color=32768)
    report, _ = run_import([Source(rgba, "", "a.png"), Source(grey16, "", "g.tif")])
    assert PIL.Image.open(report.imported[0].file).getpixel((0, 0)) == (255, 255, 255)
    assert PIL.Image.open(report.imported[1].file).getpixel((0, 0)) == (128, 128, 128)


def test_exif_rotated_jpegs_are_stored_upright(tmp_path):
    image = PIL.Image.new("RGB", (40, 20), (50, 100, 150))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, format="JPEG", exif=exif.tobytes())
    report, _ = run_import([Source(path, "", path.name)])
    stored = report.imported[0]
    assert (stored.width, stored.height) == (20, 40)
    assert "EXIF orientation applied" in stored.conversion


def test_every_bad_file_is_rejected_with_its_reason_and_the_rest_imports(tmp_path):
    good = write_image(tmp_path / "good.png", color=(3, 3, 3))
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is text, not an image")
    full = io.BytesIO()
    PIL.Image.frombytes("RGB", (128, 128), os.urandom(128 * 128 * 3)).save(full, format="JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    huge = write_image(tmp_path / "huge.png", size=(2000, 1000))
    directory = tmp_path / "folder.png"
    directory.mkdir()
    broken_link = tmp_path / "gone.png"
    os.symlink(tmp_path / "missing-target.png", broken_link)
    sources = [
        Source(not_image, "", "notes.png"),
        Source(truncated, "", "truncated.jpg"),
        Source(huge, "", "huge.png"),
        Source(directory, "", "folder.png"),
        Source(broken_link, "", "gone.png"),
        Source(good, "not-a-class-at-all", "badlabel.png"),
        Source(good, "crane", "ambiguous.png"),
        Source(None, "", "../escape.png"),
        Source(good, "", "good.png"),
    ]
    report, image_set = run_import(sources, max_pixels=1_000_000)
    reasons = dict(report.rejected)
    assert "not an image" in reasons["notes.png"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "pixel limit" in reasons["huge.png"] and "2,000,000" in reasons["huge.png"]
    assert "unreadable" in reasons["folder.png"]
    assert "unreadable" in reasons["gone.png"]
    assert "not a class" in reasons["badlabel.png"]
    assert "ambiguous" in reasons["ambiguous.png"]
    assert "outside" in reasons["../escape.png"]
    assert [i.original_name for i in report.imported] == ["good.png"]
    assert image_set.images.count() == 1
    assert report.summary() == "1 imported, 0 duplicates, 8 rejected"


def test_manifest_paths_that_leave_its_folder_are_rejected(tmp_path):
    outside = write_image(tmp_path / "outside.png")
    inner = tmp_path / "inner"
    inner.mkdir()
    manifest = inner / "m.csv"
    with manifest.open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "label"], ["../outside.png", ""], [str(outside), ""]])
    report, _ = run_import(sources_from_path(manifest))
    assert len(report.rejected) == 2 and not report.imported
    assert all("outside" in reason for _, reason in report.rejected)


def test_a_manifest_without_a_path_header_or_a_missing_path_is_a_clear_error(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\na.png,x\n")
    with pytest.raises(ImportSourceError, match="header"):
        sources_from_path(manifest)
    with pytest.raises(ImportSourceError, match="does not exist"):
        sources_from_path(tmp_path / "nowhere")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ImportSourceError, match="neither a folder nor a CSV"):
        sources_from_path(tmp_path / "x.txt")


def test_the_command_reports_a_summary_and_rejections(tmp_path, capsys):
    write_image(tmp_path / "imgs" / "tench" / "a.png", color=(1, 9, 9))
    (tmp_path / "imgs" / "tench" / "b.png").write_text("nope")
    call_command("import_images", str(tmp_path / "imgs"), set_name="mine", verbosity=0)
    out, err = capsys.readouterr()
    assert "Image set 'mine': 1 imported, 0 duplicates, 1 rejected." in out
    assert "rejected tench/b.png: not an image" in err
    with pytest.raises(CommandError, match="either a PATH or --samples"):
        call_command("import_images", verbosity=0)


def test_the_bundled_samples_import_with_their_labels(tmp_path):
    call_command("import_images", samples=True, verbosity=0)
    samples = ImageSet.objects.get(name="samples")
    assert samples.images.count() == 24
    assert Image.objects.get(original_name="skimage/coffee.png").true_label == "espresso"
    labelled = Image.objects.filter(original_name__startswith="foolbox/").exclude(true_class="")
    assert labelled.count() == 20
    call_command("import_images", samples=True, verbosity=0)
    assert Image.objects.count() == 24


@pytest.fixture
def folder_with_links(tmp_path):
    """A folder to import with links of every kind, and a folder outside it that they
    point into."""
    outside = tmp_path / "outside"
    write_image(outside / "secret.png", color=(66, 6, 6))
    write_image(outside / "n01440764" / "fish.png", color=(77, 7, 7))
    root = tmp_path / "import"
    write_image(root / "n01440764" / "real.png", color=(1, 2, 3))
    write_image(root / "loose.png", color=(4, 5, 6))
    links = {
        "escape.png": outside / "secret.png",
        "n01440764/escape.png": outside / "secret.png",
        "n01440764/relative-escape.png": "../../outside/secret.png",
        "espresso": outside / "n01440764",
        "n01440764/folder-escape": outside,
        "n01440764/chain.png": root / "n01440764" / "to-outside.png",
        "n01440764/to-outside.png": outside / "secret.png",
        "n01440764/loop.png": root / "n01440764" / "loop.png",
        "n01440764/same-as-real.png": root / "n01440764" / "real.png",
        "n01440764/inner-folder": root / "n01440764",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    return root


def test_links_that_leave_the_imported_folder_are_rejected_and_never_followed(folder_with_links):
    report, image_set = run_import(sources_from_path(folder_with_links))
    reasons = dict(report.rejected)
    leaving = [
        "escape.png",
        "n01440764/escape.png",
        "n01440764/relative-escape.png",
        "espresso",
        "n01440764/folder-escape",
        "n01440764/chain.png",
        "n01440764/to-outside.png",
    ]
    for name in leaving:
        assert reasons[name] == "it is a link that leads outside the imported folder"
    # The linked folders are not listed: nothing in them was opened.
    assert not any(name.startswith(("espresso/", "n01440764/folder-escape/")) for name in reasons)
    stored = {image.original_name for image in image_set.images.all()}
    assert stored == {"loose.png", "n01440764/real.png"}
    assert not Image.objects.filter(original_name__contains="secret").exists()


def test_links_within_the_folder_are_followed_to_files_but_not_to_folders(folder_with_links):
    report, _ = run_import(sources_from_path(folder_with_links))
    reasons = dict(report.rejected)
    # A link to a file in the folder imports that file (here the same content: a duplicate).
    assert [image.original_name for image in report.duplicates] == ["n01440764/real.png"]
    assert "n01440764/same-as-real.png" not in reasons
    # Links to folders are not followed, so a folder never holds itself.
    assert reasons["n01440764/inner-folder"] == "it is a link to a folder, which is not followed"
    assert "link" in reasons["n01440764/loop.png"]


def test_the_command_reports_links_that_leave_the_folder_and_imports_the_rest(folder_with_links, capsys):
    call_command("import_images", str(folder_with_links), set_name="linked", verbosity=0)
    out, err = capsys.readouterr()
    assert "rejected escape.png: it is a link that leads outside the imported folder" in err
    assert "Image set 'linked': 2 imported, 1 duplicates, 9 rejected." in out
