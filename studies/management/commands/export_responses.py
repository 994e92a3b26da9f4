from studies.management.commands.export import Command as ExportCommand


class Command(ExportCommand):
    help = "Write a study's responses as CSV (one row per answered trial); same as `export SLUG responses`."
    table = "responses"
