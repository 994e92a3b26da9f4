"""Researchers upload a zip archive of images on an image set's admin page: the form refuses
what cannot be imported at all (not an archive, damaged, over the size limit), the import
runs in the background under the import rules, and the set's page shows its progress and
each file's outcome, rejected files with their reason."""

import io
import random
import re
import stat
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client, RequestFactory, override_settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from inference import tasks, uploads
from inference.models import Image, ImageImport, ImageSet, ImportedFile
from inference.services import image_imports
from inference.services.images import import_one
from tests import factories
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/inference/imageset/add/"


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


def mixed_archive() -> bytes:
    return zip_bytes(
        [
            ("n01440764/fish.png", png_bytes(color=(1, 2, 3))),
            ("top.png", png_bytes(color=(4, 5, 6))),
            ("../escape.png", png_bytes(color=(7, 8, 9))),
            ("notes.txt", b"not an image"),
        ],
        links=[("n01440764/link.png", "/etc/passwd")],
    )


def upload(data: bytes, name: str = "photos.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")


def change_url(image_set: ImageSet) -> str:
    return f"/admin/inference/imageset/{image_set.pk}/change/"


def stored_uploads() -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "", "pw")


@pytest.fixture
def admin_client(boss):
    client = Client()
    client.force_login(boss)
    return client


def add_set(client, data: bytes, name: str = "photos", filename: str = "photos.zip", **extra):
    return client.post(ADD_URL, {"name": name, "description": "", "upload": upload(data, filename), **extra})


def test_an_archive_uploaded_with_a_new_set_is_imported_and_the_set_page_shows_each_file(
    admin_client, boss, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reply = add_set(admin_client, mixed_archive())
    image_set = ImageSet.objects.get(name="photos")
    # Whichever button was pressed, the set's page follows: it shows how the import goes.
    assert reply.status_code == 302 and reply["Location"] == change_url(image_set)
    row = ImageImport.objects.get()
    assert (row.image_set, row.requested_by, row.status) == (image_set, boss, ImageImport.Status.DONE)
    assert row.original_name == "photos.zip" and row.total == 5
    assert row.counts() == {"imported": 2, "duplicate": 0, "rejected": 3, "left": 0}
    names = sorted(image_set.images.values_list("original_name", flat=True))
    assert names == ["n01440764/fish.png", "top.png"]
    assert Image.objects.get(original_name="n01440764/fish.png").true_class == "n01440764"
    # The archive has done its work once its images are stored.
    assert not row.upload and stored_uploads() == []

    page = admin_client.get(change_url(image_set)).content.decode()
    assert "2 imported, 0 already stored, 3 rejected" in page
    assert "<li>n01440764/fish.png</li>" in page and "<li>top.png</li>" in page
    assert "../escape.png: its path would leave the archive" in page
    assert "n01440764/link.png: it is a link, not a file" in page
    assert "notes.txt: not an image" in page
    assert 'data-refresh-while-running="false"' in page
    assert "js/admin/refresh_while_running.js" in page


def test_the_import_runs_after_the_request_and_the_page_refreshes_until_it_is_done(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        add_set(admin_client, mixed_archive())
    row = ImageImport.objects.get()
    # The request stored the archive and queued the work; nothing is imported yet.
    assert row.status == ImageImport.Status.PENDING and Image.objects.count() == 0
    assert len(stored_uploads()) == 1 and len(queued) == 1
    page = admin_client.get(change_url(row.image_set)).content.decode()
    assert 'data-refresh-while-running="true"' in page and "Pending" in page

    queued[0]()
    row.refresh_from_db()
    assert row.status == ImageImport.Status.DONE and Image.objects.count() == 2


def test_the_page_shows_the_counts_so_far_while_the_import_runs(admin_client, tmp_path):
    image_set = factories.image_set(tmp_path, n=1, name="growing")
    row = ImageImport.objects.create(
        image_set=image_set, original_name="big.zip", size=1000, total=40, status=ImageImport.Status.RUNNING
    )
    ImportedFile.objects.create(image_import=row, position=0, name="a.png", outcome="imported")
    ImportedFile.objects.create(
        image_import=row, position=1, name="b.txt", outcome="rejected", reason="not an image"
    )
    page = admin_client.get(change_url(image_set)).content.decode()
    assert '<progress max="40" value="2"></progress> 2/40' in page
    assert "1 imported, 0 already stored, 1 rejected" in page and "b.txt: not an image" in page
    assert 'data-refresh-while-running="true"' in page
    detail = admin_client.get(f"/admin/inference/imageimport/{row.pk}/change/").content.decode()
    assert "2/40" in detail and 'id="image-import"' in detail
    assert "big.zip" in admin_client.get("/admin/inference/imageimport/").content.decode()


def test_an_archive_with_a_manifest_imports_the_files_it_names_with_their_labels(
    admin_client, django_capture_on_commit_callbacks
):
    manifest = "path,label\nphotos/a.png,tench\n./photos/b.png,\nphotos/missing.png,tench\n../x.png,\n"
    archive = zip_bytes(
        [
            ("manifest.csv", manifest.encode()),
            ("photos/a.png", png_bytes(color=(10, 0, 0))),
            ("photos/b.png", png_bytes(color=(20, 0, 0))),
            ("photos/unlisted.png", png_bytes(color=(30, 0, 0))),
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        add_set(admin_client, archive, name="listed")
    row = ImageImport.objects.get()
    outcomes = {f.name: (f.outcome, f.reason) for f in row.files.all()}
    assert outcomes == {
        "photos/a.png": ("imported", ""),
        "photos/b.png": ("imported", ""),
        "photos/missing.png": ("rejected", "the archive holds no such file"),
        "../x.png": ("rejected", "its path would leave the archive"),
        "photos/unlisted.png": ("rejected", "it is not named in manifest.csv"),
    }
    assert Image.objects.get(original_name="photos/a.png").true_class == "n01440764"
    assert Image.objects.get(original_name="photos/b.png").true_class == ""


def test_an_upload_into_an_existing_set_adds_to_it_and_counts_what_was_stored_already(
    admin_client, tmp_path, django_capture_on_commit_callbacks
):
    image_set = factories.image_set(tmp_path, n=2, name="existing")
    known = (tmp_path / "existing" / "img000.png").read_bytes()
    archive = zip_bytes([("known.png", known), ("new.png", png_bytes(color=(9, 9, 9)))])
    form = {
        "name": "existing",
        "description": "",
        "images": list(image_set.images.values_list("pk", flat=True)),
    }
    with django_capture_on_commit_callbacks(execute=True):
        reply = admin_client.post(change_url(image_set), {**form, "upload": upload(archive)})
    assert reply.status_code == 302
    assert image_set.imports.get().counts() == {"imported": 1, "duplicate": 1, "rejected": 0, "left": 0}
    assert image_set.images.count() == 3


def test_saving_the_set_page_keeps_images_an_import_added_after_the_page_was_shown(
    admin_client, tmp_path, django_capture_on_commit_callbacks
):
    image_set = factories.image_set(tmp_path, n=2, name="busy")
    page = admin_client.get(change_url(image_set))
    shown_at = page.context["adminform"].form.initial["shown_at"]
    listed = list(image_set.images.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            change_url(image_set), {"name": "busy", "images": listed, "upload": upload(mixed_archive())}
        )
    assert image_set.images.count() == 4
    # The page shown earlier listed two images; saving it keeps the two imported since,
    # and still removes the one the researcher took off the list.
    form = {"name": "busy", "description": "edited", "images": listed[:1], "shown_at": shown_at.isoformat()}
    assert admin_client.post(change_url(image_set), form).status_code == 302
    names = sorted(image_set.images.values_list("original_name", flat=True))
    assert names == ["img000.png", "n01440764/fish.png", "top.png"]


@pytest.mark.parametrize(
    "filename, data, reason",
    [
        ("cat.png", png_bytes(), "cat.png is not a zip archive"),
        ("labels.csv", b"path,label\na.png,tench\n", "labels.csv is a CSV manifest on its own"),
        ("cut.zip", mixed_archive()[:-30], "cut.zip is a damaged zip archive"),
        ("empty.zip", zip_bytes([]), "empty.zip holds no files"),
        (
            "bad-manifest.zip",
            zip_bytes([("manifest.csv", b"file,label\n")]),
            "with a &#x27;path&#x27; column",
        ),
    ],
)
def test_an_upload_that_cannot_be_imported_is_refused_on_the_form_and_nothing_is_stored(
    admin_client, filename, data, reason, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as queued:
        reply = add_set(admin_client, data, filename=filename)
    assert reply.status_code == 200
    assert reason in reply.content.decode()
    assert not ImageSet.objects.exists() and not ImageImport.objects.exists()
    assert stored_uploads() == [] and queued == []


LIMIT = 20_000


@override_settings(SECONDLOOK_MAX_UPLOAD_BYTES=LIMIT)
def test_an_upload_over_the_size_limit_is_refused_on_the_form_and_never_stored(admin_client):
    big = zip_bytes([("noise.png", random.Random(0).randbytes(2 * LIMIT))])
    assert len(big) > LIMIT
    reply = add_set(admin_client, big)
    assert reply.status_code == 200
    assert f"is larger than the upload limit of {LIMIT:,} bytes" in reply.content.decode()
    # The rest of the form arrived: the name typed is still there.
    assert 'value="photos"' in reply.content.decode()
    assert not ImageSet.objects.exists() and stored_uploads() == []


class Recorder(uploads.FileUploadHandler):
    """Stands for Django's handlers that store a file: counts what reaches them."""

    received = 0

    def receive_data_chunk(self, raw_data, start):
        Recorder.received += len(raw_data)
        return raw_data

    def file_complete(self, file_size):
        return None


def test_an_oversize_file_is_read_to_its_end_but_never_reaches_the_handlers_that_store_it():
    body = encode_multipart(
        BOUNDARY, {"name": "x", "upload": SimpleUploadedFile("big.zip", bytes(LIMIT * 10)), "after": "kept"}
    )
    request = RequestFactory().generic("POST", ADD_URL, body, content_type=MULTIPART_CONTENT)
    Recorder.received = 0
    request.upload_handlers = [uploads.MarkOversizeFiles(request, {"upload": LIMIT}), Recorder(request)]
    oversize = request.FILES["upload"]
    assert isinstance(oversize, uploads.OversizeFile) and oversize.size == LIMIT * 10
    assert Recorder.received <= LIMIT
    assert request.POST["after"] == "kept"


def test_the_upload_pages_still_check_the_csrf_token(boss):
    client = Client(enforce_csrf_checks=True)
    client.force_login(boss)
    assert add_set(client, mixed_archive()).status_code == 403
    token = client.get(ADD_URL).cookies["csrftoken"].value
    reply = add_set(client, mixed_archive(), csrfmiddlewaretoken=token)
    assert reply.status_code == 302 and ImageImport.objects.count() == 1


def staff(username: str, *codenames: str) -> User:
    user = factories.researcher(username, False)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="inference", codename__in=codenames)
    )
    return User.objects.get(pk=user.pk)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def used_set(tmp_path):
    """A set that a study is built on, whose researcher is `lead`; `outsider` is on no study."""
    study = factories.study(tmp_path, slug="ours", set_name="used", live=False)
    everything = ["view_imageset", "change_imageset", "add_imageset", "add_image"]
    lead, outsider = staff("lead", *everything), staff("outsider", *everything)
    study.researchers.add(lead)
    return study.image_set, lead, outsider


def test_a_researcher_of_every_study_on_the_set_may_upload_into_it(
    used_set, django_capture_on_commit_callbacks
):
    image_set, lead, _ = used_set
    client = logged_in(lead)
    assert 'name="upload"' in client.get(change_url(image_set)).content.decode()
    form = {"name": image_set.name, "images": list(image_set.images.values_list("pk", flat=True))}
    with django_capture_on_commit_callbacks(execute=True):
        reply = client.post(change_url(image_set), {**form, "upload": upload(mixed_archive())})
    assert reply.status_code == 302
    assert image_set.imports.get().status == ImageImport.Status.DONE


def test_a_researcher_missing_from_a_study_on_the_set_cannot_upload_into_it(used_set):
    image_set, _, outsider = used_set
    client = logged_in(outsider)
    page = client.get(change_url(image_set))
    assert page.status_code == 200 and 'name="upload"' not in page.content.decode()
    reply = client.post(change_url(image_set), {"name": image_set.name, "upload": upload(mixed_archive())})
    assert reply.status_code == 403
    assert not ImageImport.objects.exists() and stored_uploads() == []
    # A new set of their own is theirs to fill.
    assert 'name="upload"' in client.get(ADD_URL).content.decode()


def test_whoever_may_not_add_images_sees_no_upload_and_a_posted_file_is_ignored(tmp_path):
    image_set = factories.image_set(tmp_path, n=1, name="plain")
    client = logged_in(staff("editor", "view_imageset", "change_imageset", "add_imageset"))
    assert 'name="upload"' not in client.get(change_url(image_set)).content.decode()
    assert 'name="upload"' not in client.get(ADD_URL).content.decode()
    form = {"name": "plain", "images": list(image_set.images.values_list("pk", flat=True))}
    reply = client.post(change_url(image_set), {**form, "upload": upload(mixed_archive())})
    assert reply.status_code == 302 and not ImageImport.objects.exists()


def test_the_images_list_points_to_where_uploads_happen(admin_client):
    page = admin_client.get("/admin/inference/image/").content.decode()
    assert '<a href="/admin/inference/imageset/add/" class="addlink">Upload images into a new set' in page
    assert '<a href="/admin/inference/imageset/">Upload into an existing set' in page


def test_the_add_page_offers_the_upload(admin_client):
    page = admin_client.get(ADD_URL).content.decode()
    assert 'type="file" name="upload"' in page and "manifest.csv" in page
    assert 'enctype="multipart/form-data"' in page


@pytest.fixture
def queued_import(tmp_path):
    """An import stored and queued, its task not yet run."""
    image_set = ImageSet.objects.create(name="queued")
    archive = zip_bytes([(f"img{i}.png", png_bytes(color=(i, 0, 0))) for i in range(4)])
    return image_imports.request_import(image_set, upload(archive))


def test_running_the_task_twice_imports_once(queued_import):
    assert tasks.import_uploaded_images.apply(args=[queued_import.pk]).get() == "done"
    assert tasks.import_uploaded_images.apply(args=[queued_import.pk]).get() == "done"
    queued_import.refresh_from_db()
    assert queued_import.attempts == 1 and queued_import.files.count() == 4
    assert queued_import.counts()["imported"] == 4 and Image.objects.count() == 4


def test_an_import_resumed_after_a_crash_goes_on_from_what_it_recorded(queued_import):
    # A worker died after recording the first two files; the message comes back.
    ImageImport.objects.filter(pk=queued_import.pk).update(status=ImageImport.Status.RUNNING, attempts=1)
    for position in (0, 1):
        ImportedFile.objects.create(
            image_import=queued_import, position=position, name=f"img{position}.png", outcome="imported"
        )
    row = image_imports.run_import(queued_import.pk)
    assert row.status == ImageImport.Status.DONE and row.attempts == 2
    assert sorted(row.files.values_list("position", flat=True)) == [0, 1, 2, 3]
    assert Image.objects.count() == 2


def test_a_transient_database_error_is_retried_and_no_file_is_recorded_twice(queued_import, monkeypatch):
    calls = []

    def flaky(source, *args):
        calls.append(source.name)
        if len(calls) == 2:
            raise OperationalError("the database blinked")
        return import_one(source, *args)

    monkeypatch.setattr(image_imports, "import_one", flaky)
    # As a worker runs it, with its retries (the test settings propagate errors instead).
    assert tasks.import_uploaded_images.apply(args=[queued_import.pk], throw=False).get() == "done"
    queued_import.refresh_from_db()
    assert queued_import.attempts == 2
    assert sorted(queued_import.files.values_list("position", flat=True)) == [0, 1, 2, 3]
    assert calls == ["img0.png", "img1.png", "img1.png", "img2.png", "img3.png"]


def test_an_unexpected_error_fails_the_import_with_the_error_instead_of_leaving_it_running(
    queued_import, monkeypatch
):
    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(image_imports, "import_one", broken)
    result = tasks.import_uploaded_images.apply(args=[queued_import.pk], throw=False)
    assert result.failed()
    queued_import.refresh_from_db()
    assert queued_import.status == ImageImport.Status.FAILED
    assert queued_import.message == "stopped by an unexpected error: RuntimeError: a bug"


def test_an_archive_damaged_after_it_was_stored_fails_the_import_with_the_reason(queued_import):
    Path(queued_import.upload.path).write_bytes(b"PK\x03\x04 and then nothing")
    row = image_imports.run_import(queued_import.pk)
    assert row.status == ImageImport.Status.FAILED
    assert re.match(r"photos\.zip is a damaged zip archive: ", row.message)
    assert Image.objects.count() == 0 and not row.upload


def test_the_import_task_goes_to_the_default_queue_and_registration_to_the_model_workers():
    from config.celery import app

    def queue(task) -> str:
        return app.amqp.router.route(task._get_exec_options(), task.name)["queue"].name

    assert queue(tasks.import_uploaded_images) == "default"
    assert queue(tasks.register_uploaded_classifier) == "gpu"
