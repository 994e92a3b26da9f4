"""Images and a classifier brought in from the browser alone, on the embedded server: the
upload's page follows the background work by itself, with no reload."""

import json
import zipfile

import pytest
import torch

from inference.engine.testing import tiny_net
from tests.factories import png_bytes

pytestmark = pytest.mark.browser


@pytest.fixture
def admin(demo, browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{demo['base']}/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", demo["password"])
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    yield page
    context.close()


def test_a_zip_uploaded_on_the_add_page_is_imported_and_its_files_reported(demo, admin, tmp_path):
    archive = tmp_path / "mine.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("n01440764/fish.png", png_bytes(color=(3, 1, 4)))
        zipped.writestr("notes.txt", b"not an image")
    admin.goto(f"{demo['base']}/admin/inference/imageset/add/")
    admin.fill("#id_name", "from-the-browser")
    admin.set_input_files("#id_upload", str(archive))
    admin.click("input[name=_save]")
    admin.wait_for_selector("#image-set-uploads")
    admin.wait_for_selector(
        "#image-set-uploads >> text=1 imported, 0 already stored, 1 rejected", timeout=30_000
    )
    assert "notes.txt: not an image" in admin.inner_text("#image-set-uploads")


def test_the_set_page_follows_an_import_to_its_end_without_a_reload(demo, admin):
    made = demo["server"].manage(
        "shell",
        "-c",
        "from inference.models import ImageImport, ImageSet;"
        "s = ImageSet.objects.create(name='watched');"
        "row = ImageImport.objects.create("
        "    image_set=s, original_name='slow.zip', size=1, total=3, status='running');"
        "print(s.pk, row.pk)",
    )
    set_pk, import_pk = made.splitlines()[-1].split()
    admin.goto(f"{demo['base']}/admin/inference/imageset/{set_pk}/change/")
    admin.wait_for_selector('#image-set-uploads[data-refresh-while-running="true"] >> text=Running')
    demo["server"].manage(
        "shell",
        "-c",
        "from inference.models import ImageImport;"
        f"ImageImport.objects.get(pk={import_pk}).mark_done('0 imported')",
    )
    admin.wait_for_selector(
        '#image-set-uploads[data-refresh-while-running="false"] >> text=Done', timeout=15_000
    )


def test_a_classifier_uploaded_on_the_add_page_is_registered(demo, admin, tmp_path):
    weights = tmp_path / "tiny.pt"
    torch.jit.script(tiny_net(num_classes=1000)).save(str(weights))
    admin.goto(f"{demo['base']}/admin/inference/classifier/")
    admin.click(".object-tools a.addlink")
    admin.wait_for_selector("#id_weights_file")
    admin.fill("#id_name", "tiny-from-the-browser")
    admin.select_option("#id_source", "torchscript")
    admin.set_input_files("#id_weights_file", str(weights))
    preprocessing = {
        "resize": 40,
        "crop": 32,
        "interpolation": "bilinear",
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
    }
    admin.fill("#id_preprocessing", json.dumps(preprocessing))
    admin.click("input[name=_save]")
    admin.wait_for_selector(
        "#classifier-registration >> text=Registered tiny-from-the-browser", timeout=60_000
    )
    assert "1000 classes" in admin.inner_text("#classifier-registration")
