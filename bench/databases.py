"""What the PostgreSQL benchmarks share: a database of their own beside the one DATABASE_URL
names (created fresh, dropped at the end), and a classifier row that stands for a model the
benchmark never runs."""

import os
import sys
from urllib.parse import urlsplit, urlunsplit


def own_database_url(name: str, script: str) -> str:
    """DATABASE_URL with its database replaced by `name`; exits when it is not PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"{script} needs DATABASE_URL pointing at a PostgreSQL server")
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def recreate_database(url: str, create: bool = True) -> None:
    """Drop the database `url` names and, unless `create` is false, create it empty."""
    import psycopg2

    name = urlsplit(url).path.lstrip("/")
    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    connection = psycopg2.connect(server)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        if create:
            cursor.execute(f"CREATE DATABASE {name}")
    connection.close()


def stand_in_classifier(name: str):
    """A registered classifier whose weights are never loaded (rows are generated)."""
    from inference.models import Classifier

    return Classifier.objects.get_or_create(
        name=name,
        defaults={
            "source": Classifier.Source.BUNDLED,
            "architecture": "tf_efficientnet_lite0",
            "weights_path": "/nonexistent",
            "weights_sha256": "0" * 64,
            "preprocessing": {},
            "num_classes": 1000,
        },
    )[0]
