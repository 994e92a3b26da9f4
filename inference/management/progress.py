"""Progress bars for management commands, on the command's stderr."""

from django.core.management.base import OutputWrapper
from tqdm import tqdm


class _Unended:
    """A command's stderr as tqdm must have it. OutputWrapper ends every write with a
    newline, which turned each redraw ("\\r" and the bar) into a line of its own: every bar
    was printed once per update and once more when it closed."""

    def __init__(self, stream: OutputWrapper):
        self.stream = stream

    def write(self, text: str) -> None:
        self.stream.write(text, ending="")

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str):
        # encoding and isatty: tqdm draws with Unicode blocks where the terminal has them.
        return getattr(self.stream, name)


def progress_bar(stream: OutputWrapper, **options) -> tqdm:
    """A tqdm bar (same options) drawn on a command's stderr, redrawn in place."""
    return tqdm(file=_Unended(stream), **options)
