"""Importing a zip archive: members judged one by one like files in a folder; names that
would leave the archive, links, members that unpack too large and damaged members are
rejected with their reason, and the rest still import."""

import io
import re
import stat
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from inference.models import Image, ImageSet
from inference.services import archives
from inference.services.images import import_sources
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db
MAX_BYTES = 50_000


def zip_bytes(members: list[tuple[str, bytes]], links: list[tuple[str, str]] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def corrupt(data: bytes, member: bytes) -> bytes:
    """Flip a byte inside the stored (uncompressed) member so its CRC no longer matches."""
    at = data.index(member) + 20
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


@pytest.fixture
def mixed(tmp_path):
    good = png_bytes(color=(1, 2, 3))
    path = tmp_path / "photos.zip"
    path.write_bytes(
        zip_bytes(
            [
                ("n01440764/fish.png", good),
                ("top.png", png_bytes(color=(4, 5, 6))),
                ("../escape.png", png_bytes(color=(7, 8, 9))),
                ("/etc/absolute.png", png_bytes(color=(7, 8, 10))),
                ("n01440764/bomb.png", bytes(MAX_BYTES * 4)),  # zeros compress to almost nothing
                ("notes.txt", b"not an image"),
            ],
            links=[("n01440764/link.png", "/etc/passwd")],
        )
    )
    return path


def test_each_member_is_judged_on_its_own(mixed):
    image_set = ImageSet.objects.create(name="photos")
    report = import_sources(archives.sources_from_archive(mixed, MAX_BYTES), image_set, imagenet_1k(), 10**7)
    assert sorted(image.original_name for image in report.imported) == ["n01440764/fish.png", "top.png"]
    fish = Image.objects.get(original_name="n01440764/fish.png")
    assert fish.true_class == "n01440764"
    assert Image.objects.get(original_name="top.png").true_class == ""
    reasons = dict(report.rejected)
    assert reasons["../escape.png"] == "its path would leave the archive"
    assert reasons["/etc/absolute.png"] == "its path would leave the archive"
    assert reasons["n01440764/link.png"] == "it is a link, not a file"
    assert reasons["n01440764/bomb.png"] == f"it unpacks to more than {MAX_BYTES:,} bytes"
    assert "not an image" in reasons["notes.txt"]


def test_a_damaged_member_is_rejected_and_the_others_import(tmp_path):
    good, bad = png_bytes(color=(1, 1, 1)), png_bytes(color=(2, 2, 2)) + bytes(200)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("good.png", good)
        archive.writestr("bad.png", bad)
    path = tmp_path / "damaged.zip"
    path.write_bytes(corrupt(buffer.getvalue(), bad))
    image_set = ImageSet.objects.create(name="damaged")
    report = import_sources(archives.sources_from_archive(path, MAX_BYTES), image_set, imagenet_1k(), 10**7)
    assert [image.original_name for image in report.imported] == ["good.png"]
    assert dict(report.rejected)["bad.png"].startswith("unreadable in the archive")


def bad_deflate_stream(data: bytes, member: zipfile.ZipInfo) -> bytes:
    """The member's compressed data starts with a block of the reserved type 3."""
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    return data[:start] + b"\xff" + data[start + 1 :]


def bad_local_name(data: bytes, member: zipfile.ZipInfo) -> bytes:
    """The member's own header says its name is UTF-8 (flag bit 11), and it is not."""
    at = member.header_offset
    flags = int.from_bytes(data[at + 6 : at + 8], "little") | 0x800
    return data[: at + 6] + flags.to_bytes(2, "little") + data[at + 8 : at + 30] + b"\xff" + data[at + 31 :]


@pytest.mark.parametrize("damage", [bad_deflate_stream, bad_local_name])
def test_a_member_damaged_inside_is_rejected_and_the_others_import(tmp_path, damage):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bad.png", png_bytes(color=(2, 2, 2)))
        archive.writestr("good.png", png_bytes(color=(1, 1, 1)))
        bad = archive.getinfo("bad.png")
    path = tmp_path / "damaged.zip"
    path.write_bytes(damage(buffer.getvalue(), bad))
    image_set = ImageSet.objects.create(name="damaged")
    report = import_sources(archives.sources_from_archive(path, MAX_BYTES), image_set, imagenet_1k(), 10**7)
    assert [image.original_name for image in report.imported] == ["good.png"]
    assert dict(report.rejected)["bad.png"].startswith("unreadable in the archive")


def test_the_command_imports_an_archive_and_reports_what_it_rejected(mixed, capsys):
    call_command("import_images", str(mixed), "--set", "from-zip")
    out, err = capsys.readouterr()
    assert "Image set 'from-zip': 2 imported, 0 duplicates, 5 rejected." in out
    assert "rejected ../escape.png: its path would leave the archive" in err


def test_an_uploaded_archive_is_recognised_by_its_content(mixed, django_user_model):
    user = django_user_model.objects.create_user("curator", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_image"))
    client = APIClient()
    client.force_login(user)
    # Named .png, but a zip: the content decides.
    upload = SimpleUploadedFile("innocent.png", mixed.read_bytes())
    reply = client.post("/api/v1/image-sets/uploads/images", {"file": upload}, format="multipart")
    assert reply.status_code == 200
    body = reply.json()
    assert len(body["imported"]) == 2 and body["duplicates"] == []
    assert {"name": "../escape.png", "reason": "its path would leave the archive"} in body["rejected"]
    assert ImageSet.objects.get(name="uploads").images.count() == 2


def truncated(data: bytes) -> bytes:
    """Cut short as by an interrupted download: the central directory at the end is gone."""
    return data[: len(data) // 2]


def bad_central_directory(data: bytes) -> bytes:
    """The central directory's first entry no longer starts with its signature."""
    at = data.index(b"PK\x01\x02")
    return data[:at] + b"XX\x01\x02" + data[at + 4 :]


def bad_member_name(data: bytes) -> bytes:
    """The first central directory entry says its name is UTF-8 (flag bit 11), and it is not."""
    at = data.index(b"PK\x01\x02")
    flags = int.from_bytes(data[at + 8 : at + 10], "little") | 0x800
    name = at + 46
    return data[: at + 8] + flags.to_bytes(2, "little") + data[at + 10 : name] + b"\xff" + data[name + 1 :]


DAMAGED = {
    "truncated": (truncated, "its central directory .* is missing"),
    "bad central directory": (bad_central_directory, "Bad magic number for central directory"),
    "member name not UTF-8": (bad_member_name, "a member's name is not valid UTF-8"),
    "signature only": (lambda data: b"PK\x03\x04 but nothing after", "its central directory .* is missing"),
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_the_command_reports_a_damaged_archive_with_the_reason(mixed, damage):
    damaged, reason = DAMAGED[damage]
    path = mixed.with_name("broken.zip")
    path.write_bytes(damaged(mixed.read_bytes()))
    assert archives.is_archive(path)
    with pytest.raises(CommandError, match=f"broken.zip is a damaged zip archive: {reason}"):
        call_command("import_images", str(path), "--set", "x")
    assert not ImageSet.objects.filter(name="x").exists()


@pytest.mark.parametrize("damage", DAMAGED)
def test_an_upload_of_a_damaged_archive_is_refused_with_the_reason(mixed, damage, django_user_model):
    damaged, reason = DAMAGED[damage]
    user = django_user_model.objects.create_user("curator", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_image"))
    client = APIClient()
    client.force_login(user)
    upload = SimpleUploadedFile("photos.zip", damaged(mixed.read_bytes()))
    reply = client.post("/api/v1/image-sets/uploads/images", {"file": upload}, format="multipart")
    assert reply.status_code == 400
    assert reply.json()["code"] == "damaged_archive"
    assert re.match(f"photos.zip is a damaged zip archive: {reason}", reply.json()["detail"])
    assert Image.objects.count() == 0


def test_a_file_named_zip_that_is_not_one_says_so(tmp_path):
    path = tmp_path / "download.zip"
    path.write_bytes(b"<html>Session expired</html>")
    assert not archives.is_archive(path)
    with pytest.raises(CommandError, match="download.zip is named like a zip archive but is not one"):
        call_command("import_images", str(path))


def test_an_archive_with_a_manifest_at_its_top_imports_what_the_manifest_names(tmp_path, capsys):
    path = tmp_path / "listed.zip"
    manifest = "path,label\nfish/a.png,tench\nb.png,\n/etc/passwd,\nc.png,\n"
    path.write_bytes(
        zip_bytes(
            [
                ("manifest.csv", manifest.encode()),
                ("fish/a.png", png_bytes(color=(11, 0, 0))),
                ("b.png", png_bytes(color=(12, 0, 0))),
                ("extra.png", png_bytes(color=(13, 0, 0))),
            ],
            links=[("c.png", "/etc/passwd")],
        )
    )
    call_command("import_images", str(path), "--set", "listed")
    out, err = capsys.readouterr()
    assert "Image set 'listed': 2 imported, 0 duplicates, 3 rejected." in out
    assert "rejected /etc/passwd: its path would leave the archive" in err
    assert "rejected c.png: it is a link, not a file" in err
    assert "rejected extra.png: it is not named in manifest.csv" in err
    assert Image.objects.get(original_name="fish/a.png").true_class == "n01440764"


def test_a_manifest_in_an_archive_that_is_not_csv_text_refuses_the_archive(tmp_path):
    path = tmp_path / "binary.zip"
    path.write_bytes(zip_bytes([("manifest.csv", b"\xff\xfe\x00bad"), ("a.png", png_bytes())]))
    with pytest.raises(CommandError, match="manifest.csv in binary.zip cannot be read"):
        call_command("import_images", str(path), "--set", "binary")
    assert not ImageSet.objects.filter(name="binary").exists()
