"""Images from a zip archive, judged member by member like files in a folder.

Each top-level folder of the archive is a class (as in a folder import); files at the top
import without a label. A member is rejected, with its reason, when its name could leave
the archive (an absolute path, `..`, a drive letter), when it is a link, or when it
unpacks to more than the size limit: sizes are counted while reading, not taken from the
archive's own header, which a crafted archive can understate."""

import stat
import zipfile
from pathlib import Path, PurePosixPath

from inference.services.images import ImportSourceError, RejectedImage, Source

CHUNK = 1 << 20


def is_archive(path: Path) -> bool:
    """Whether the file is a zip archive, by its content rather than its name."""
    return zipfile.is_zipfile(path)


def sources_from_archive(path: Path, max_bytes: int) -> list[Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ImportSourceError(f"{path.name} is not a readable zip archive: {error}") from None
    with archive:
        members = [member for member in archive.infolist() if not member.is_dir()]
    return [_source(path, member, max_bytes) for member in sorted(members, key=lambda m: m.filename)]


def _source(path: Path, member: zipfile.ZipInfo, max_bytes: int) -> Source:
    name = member.filename
    problem = _unsafe(member)
    if problem:
        return Source(None, "", name, rejected=problem)
    parts = PurePosixPath(name).parts
    label = parts[0] if len(parts) > 1 else ""
    return Source(None, label, name, reader=lambda: _read_member(path, name, max_bytes))


def _unsafe(member: zipfile.ZipInfo) -> str:
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
        return "its path would leave the archive"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "it is a link, not a file"
    return ""


def _read_member(path: Path, name: str, max_bytes: int) -> bytes:
    chunks, size = [], 0
    try:
        with zipfile.ZipFile(path) as archive, archive.open(name) as member:
            while chunk := member.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise RejectedImage(f"it unpacks to more than {max_bytes:,} bytes")
                chunks.append(chunk)
    # A damaged member (bad checksum), an encrypted one, an unknown compression method.
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as error:
        raise RejectedImage(f"unreadable in the archive: {error}") from None
    return b"".join(chunks)
