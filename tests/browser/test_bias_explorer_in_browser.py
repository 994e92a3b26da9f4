"""The bias explorer's galleries in a real browser: captions as long as researchers' file
names get (no spaces, capitals, CJK) stay inside their own tile and never run into the
next one, on a laptop and on a phone."""

import json

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

# A set of its own (new rows only: the other browser tests' data is untouched), with
# MMD-critic prototypes and criticisms and a bias job's closest images for one class.
LONG_CAPTIONS = """
import io, json
import PIL.Image
from inference.models import ImageSet, Prediction, PrototypeSet
from inference.services.images import Source, import_sources
from studies.models import Study

NAMES = [
    "an_unusually_long_file_name_without_any_spaces_at_all_0001.jpeg",
    "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW.png",
    "photos/2019/holiday/DSCF0042 - copy (2) - final version.png",
    "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM.png",
    "画像ファイルの名前がとても長い場合の表示を確かめるための画像.png",
    "x.png",
    "0123456789012345678901234567890123456789.png",
]

def png(n):
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (160, 120), (n * 30 % 256, 250 - n * 20, 77)).save(buffer, format="PNG")
    return buffer.getvalue()

classifier = Study.objects.get(slug="demo-topk").classifier
image_set, _ = ImageSet.objects.get_or_create(name="long-captions")
sources = [Source(None, "", name, reader=lambda n=n: png(n)) for n, name in enumerate(NAMES)]
report = import_sources(sources, image_set, classifier.labels(), max_pixels=10_000_000)
ids = [image.pk for image in report.imported + report.duplicates]
index = Prediction.objects.filter(classifier=classifier).first().topk[0]["index"]
class_id = classifier.labels().class_ids[index]
common = dict(image_set=image_set, classifier=classifier, class_index=index, class_id=class_id, params={})
PrototypeSet.objects.get_or_create(
    **common, method="mmd_critic", params_key="captions",
    defaults={"prototypes": ids[:4], "criticisms": ids[4:]},
)
PrototypeSet.objects.get_or_create(
    **common, method="adversarial_distance", params_key="captions",
    defaults={"criticisms": ids, "scores": {str(i): 12.5 for i in ids}},
)
print(json.dumps({"classifier": classifier.name, "class": class_id, "names": NAMES}))
"""

BOXES = """() => Array.from(document.querySelectorAll(".gallery li"), (tile) => {
    const caption = tile.querySelector("span");
    const box = (node) => {
        const r = node.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
    };
    return {
        tile: box(tile),
        caption: box(caption),
        scrolls: caption.scrollWidth > caption.clientWidth,
        title: caption.getAttribute("title"),
    };
})"""


def overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def inside(inner: dict, outer: dict) -> bool:
    return (
        inner["left"] >= outer["left"] - 0.5
        and inner["right"] <= outer["right"] + 0.5
        and inner["top"] >= outer["top"] - 0.5
        and inner["bottom"] <= outer["bottom"] + 0.5
    )


@pytest.mark.parametrize("viewport", [(1280, 900), (360, 740)], ids=["laptop", "phone"])
def test_long_captions_stay_inside_their_tiles_and_never_overlap(demo, browser, viewport):
    made = json.loads(demo["server"].manage("shell", "-c", LONG_CAPTIONS).strip().splitlines()[-1])
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    query = f"classifier={made['classifier']}&image_set=long-captions&class={made['class']}"
    page.goto(f"{demo['base']}/admin/login/?next=/bias/%3F{query.replace('&', '%26')}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", demo["password"])
    page.click("input[type=submit]")
    page.wait_for_selector("#prototypes")
    page.wait_for_load_state("load")
    tiles = page.evaluate(BOXES)
    screenshot(page, f"bias-explorer-long-captions-{viewport[0]}")
    # Prototypes, criticisms and the closest by attack (the set has no features).
    assert len(tiles) == len(made["names"]) * 2
    for tile in tiles:
        assert inside(tile["caption"], tile["tile"]), tile
        assert not tile["scrolls"], tile
    captions = [tile["caption"] for tile in tiles]
    for n, first in enumerate(captions):
        for second in captions[n + 1 :]:
            assert not overlap(first, second), (first, second)
    # However a caption is shortened, its whole file name is one hover away.
    assert {tile["title"] for tile in tiles} == set(made["names"])
    context.close()
