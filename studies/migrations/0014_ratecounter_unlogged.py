"""On PostgreSQL the rate counters skip the write-ahead log: they need no durability (a
crash forgets at most a minute of counts), and each request then writes its count in one
statement without waiting for the disk."""

from django.db import migrations


def unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE studies_ratecounter SET UNLOGGED")


def logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE studies_ratecounter SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [("studies", "0013_study_researchers")]

    operations = [migrations.RunPython(unlogged, logged)]
