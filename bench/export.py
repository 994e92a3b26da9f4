"""The responses export against PostgreSQL's own COPY, measured side by side in one run.

Questions:
1. Throughput: streaming the responses CSV (one row per answered trial, every column
   flat) from 1,000,000 responses, as a fraction of PostgreSQL's own
   `COPY (SELECT … the same joined rows …) TO STDOUT WITH CSV` (goal >= 0.3).
2. Peak resident memory of the exporting process at 100,000 and 1,000,000 rows
   (goal < 300 MB and flat as rows grow): each export runs in its own process.
3. The results page of a study with 100,000 responses: time to compute and render it
   (goal < 2 s).

Needs PostgreSQL: DATABASE_URL names the server; the benchmark creates (and drops) its own
database `secondlook_bench` there and generates the rows with SQL. Ends with
`RESULT <name> <value> <unit>` lines.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import databases  # noqa: E402

BENCH_DB = "secondlook_bench"
TRIALS_PER_PARTICIPANT = 100


def bench_url() -> str:
    return databases.own_database_url(BENCH_DB, "bench/export.py")


def setup_django(url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.embedded",
        DATABASE_URL=url,
        SECONDLOOK_DATA_DIR=os.environ.get("SECONDLOOK_BENCH_DIR", "/tmp/secondlook-bench"),
        LOG_LEVEL="WARNING",
    )
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()


def make_study(slug: str, responses: int):
    """A launched top-k study with `responses` answered trials (100 per participant). Answers
    vary as real ones do: each trial selects one of the 32 subsets of its five labels, and the
    client measurements differ between participants and, for hidden time, between trials."""
    from django.db import connection

    from inference.labelsets import imagenet_1k
    from inference.models import Image, ImageSet, Prediction
    from studies.models import Study
    from studies.services import launch

    labels = imagenet_1k()
    image_set = ImageSet.objects.create(name=f"{slug}-images")
    classifier = databases.stand_in_classifier("bench")
    for n in range(TRIALS_PER_PARTICIPANT):
        image = Image.objects.create(
            sha256=hashlib.sha256(f"{slug}-{n}".encode()).hexdigest(),
            file="images/none.png",
            format="PNG",
            width=224,
            height=224,
            true_class=labels.class_ids[n],
            true_label=labels.names[n],
            original_name=f"photos/{slug}/{n:04d}.png",
        )
        image_set.images.add(image)
        topk = [
            {
                "rank": r + 1,
                "index": c,
                "class_id": labels.class_ids[c],
                "label": labels.names[c],
                "prob": 0.1,
            }
            for r, c in enumerate(range(n, n + 5))
        ]
        Prediction.objects.create(image=image, classifier=classifier, topk=topk)
    study = Study.objects.create(
        slug=slug,
        title=slug,
        image_set=image_set,
        classifier=classifier,
        images_per_participant=TRIALS_PER_PARTICIPANT,
        consent_text="ok",
    )
    version = launch.launch(study)
    participants = responses // TRIALS_PER_PARTICIPANT
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO studies_participant (study_id, version_id, pseudonym, token_hash, identity_hash,
                status, seed, consent_version, consented_at, finished_at, created_at, condition, excluded,
                kind, last_active_at)
            SELECT %s, %s, %s || lpad(g::text, 10, '0'), md5(%s || g::text) || md5(g::text), '',
                'completed',
                g, 1, now(), now(), now(), 'main', false, 'real', now()
            FROM generate_series(1, %s) AS g
            """,
            [study.pk, version.pk, slug[:6], slug, participants],
        )
        cursor.execute(
            """
            INSERT INTO studies_trial (participant_id, index, item_id, kind, role, block, prompt, options,
                expected, presented_at, problem, problem_detail)
            SELECT p.id, i.n, i.id, 'topk_select', 'main', '', 'Which labels?',
                (SELECT jsonb_agg(jsonb_build_object('id', l->>'id', 'text', l->>'text'))
                 FROM jsonb_array_elements(i.labels) l),
                NULL, now(), '', ''
            FROM studies_participant p
            JOIN (SELECT id, labels, row_number() OVER (ORDER BY id) - 1 AS n
                  FROM studies_item WHERE version_id = %s) i
                ON true
            WHERE p.study_id = %s
            """,
            [version.pk, study.pk],
        )
        cursor.execute(
            """
            INSERT INTO studies_response (trial_id, answer, rt_ms, client, idempotency_key, receipt,
                created_at)
            SELECT t.id,
                jsonb_build_object('selected', COALESCE((
                    SELECT jsonb_agg(o.value->>'id' ORDER BY o.n)
                    FROM jsonb_array_elements(t.options) WITH ORDINALITY AS o(value, n)
                    WHERE ((t.id * 7) %% 32) & (1 << (o.n::int - 1)) <> 0), '[]'::jsonb)),
                500 + (t.id %% 1500),
                jsonb_build_object('dpr', 1 + p.id %% 2,
                    'viewport', jsonb_build_array(1024 + p.id %% 400, 768),
                    'displayed', jsonb_build_array(448, 448), 'natural', jsonb_build_array(224, 224),
                    'scaled', false, 'sha256_checked', true, 'input', 'mouse',
                    'hidden_ms', CASE WHEN t.id %% 7 = 0 THEN t.id %% 3000 ELSE 0 END),
                md5(t.id::text), '{}', now()
            FROM studies_trial t JOIN studies_participant p ON p.id = t.participant_id
            WHERE p.study_id = %s
            """,
            [study.pk],
        )
        cursor.execute("ANALYZE")
    return study


COPY_SQL = """
COPY (
  SELECT s.slug, v.number, p.pseudonym, p.status, p.kind, p.condition, p.excluded, p.consent_version,
         t.index, t.id, t.role, t.block, t.kind, i.id, im.sha256, im.original_name, im.width, im.height,
         im.true_class, im.true_label, i.stimulus, i.labels, t.prompt, t.options, r.answer, t.expected,
         r.rt_ms, t.presented_at, r.created_at, r.client
  FROM studies_response r
  JOIN studies_trial t ON t.id = r.trial_id
  JOIN studies_participant p ON p.id = t.participant_id
  JOIN studies_study s ON s.id = p.study_id
  JOIN studies_studyversion v ON v.id = p.version_id
  JOIN studies_item i ON i.id = t.item_id
  JOIN inference_image im ON im.id = i.image_id
  WHERE s.slug = '{slug}' AND t.role <> 'practice' AND p.kind = 'real' AND NOT p.excluded
  ORDER BY p.id, t.index
) TO STDOUT WITH CSV HEADER
"""


class Sink:
    """Counts what it is given and keeps nothing."""

    def __init__(self):
        self.bytes = 0

    def write(self, data) -> int:
        self.bytes += len(data)
        return len(data)


def copy_seconds(slug: str) -> float:
    from django.db import connection

    sink = Sink()
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(COPY_SQL.replace("{slug}", slug), sink)
    return time.perf_counter() - start


def export_child(slug: str) -> None:
    """Runs in its own process: export, then report seconds, rows and peak memory."""
    from studies.models import Study
    from studies.services import export

    study = Study.objects.get(slug=slug)
    sink = Sink()
    start = time.perf_counter()
    rows = export.write_csv(export.rows(study, "responses"), sink)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CHILD {seconds:.3f} {rows} {peak_mb:.1f}")


def export_in_process(slug: str, url: str) -> tuple[float, int, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", slug],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("CHILD "))
    seconds, rows, peak = line.split()[1:]
    return float(seconds), int(rows), float(peak)


def results_page_seconds(slug: str) -> float:
    from django.template.loader import render_to_string

    from studies.analysis import results
    from studies.models import Study

    study = Study.objects.get(slug=slug)
    start = time.perf_counter()
    found = results.results(study)
    context = {**found, "study": study, "charts": results.chart_svgs(found)}
    context["topk_rows"] = [(label, found["topk"][name]) for name, label in results.TOPK_RATES]
    render_to_string("studies/results.html", context)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = bench_url()
    if args.child:
        setup_django(url)
        export_child(args.child)
        return
    databases.recreate_database(url)
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    small = max(args.rows // 10, TRIALS_PER_PARTICIPANT)
    start = time.perf_counter()
    make_study("small", small)
    make_study("large", args.rows)
    print(f"generated {small:,} + {args.rows:,} responses in {time.perf_counter() - start:.0f} s")

    copy_large = min(copy_seconds("large") for _ in range(2))
    ours_large, rows_large, peak_large = export_in_process("large", url)
    _, rows_small, peak_small = export_in_process("small", url)
    assert rows_large == args.rows and rows_small == small, (rows_large, rows_small)
    ratio = copy_large / ours_large
    print(
        f"COPY {args.rows / copy_large:,.0f} rows/s; "
        f"export {args.rows / ours_large:,.0f} rows/s; ratio {ratio:.2f}"
    )
    print(f"peak memory: {peak_small:.0f} MB at {small:,} rows, {peak_large:.0f} MB at {args.rows:,} rows")
    # The first render reads cold pages from PostgreSQL; a server renders warm ones after that.
    first = results_page_seconds("small")
    page = min(results_page_seconds("small") for _ in range(2))
    print(f"results page of {small:,} responses: {first:.2f} s first, {page:.2f} s after")
    print(f"RESULT export_rows_per_s {args.rows / ours_large:.0f} rows/s")
    print(f"RESULT copy_rows_per_s {args.rows / copy_large:.0f} rows/s")
    print(f"RESULT export_over_copy {ratio:.3f} ratio")
    print(f"RESULT export_peak_memory_small {peak_small:.1f} MB")
    print(f"RESULT export_peak_memory_large {peak_large:.1f} MB")
    print(f"RESULT results_page_first_seconds {first:.3f} s")
    print(f"RESULT results_page_seconds {page:.3f} s")
    from django.db import connections

    connections.close_all()
    databases.recreate_database(url, create=False)


if __name__ == "__main__":
    main()
