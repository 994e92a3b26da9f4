import pytest
from django.db import connection

from tests.requirements import unavailable


@pytest.fixture
def postgres() -> str:
    """The URL of the PostgreSQL test database, for processes the test starts (workers,
    gunicorn); in CI a test database that is not PostgreSQL fails the test."""
    if connection.vendor != "postgresql":
        unavailable("SECONDLOOK_REQUIRE_SERVICES", "DATABASE_URL does not point at PostgreSQL")
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
