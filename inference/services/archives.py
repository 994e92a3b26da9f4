"""Images from a zip archive, judged member by member like files in a folder.

Each top-level folder of the archive is a class (as in a folder import); files at the top
import without a label. An archive with a `manifest.csv` at its top level is read as that
manifest instead (a header `path,label`, paths relative to the archive's top): its rows
are the files to import, and members it does not name are reported as left out. A member
is rejected, with its reason, when its name could leave the archive (an absolute path,
`..`, a drive letter), when it is a link, or when it unpacks to more than the size limit:
sizes are counted while reading, not taken from the archive's own header, which a crafted
archive can understate."""

import io
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from inference.services.images import ImportSourceError, RejectedImage, Source, manifest_rows

CHUNK = 1 << 20
MANIFEST = "manifest.csv"
# How a zip file begins: a member's local header, an empty archive's end record, or the
# marker of an archive written in parts.
SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def is_archive(path: Path) -> bool:
    """Whether the file is a zip archive, by its content rather than its name: one that
    begins like a zip counts even when damaged, so that it is reported as a damaged
    archive (sources_from_archive) rather than as a file of an unknown kind."""
    with path.open("rb") as handle:
        start = handle.read(4)
    return start in SIGNATURES or zipfile.is_zipfile(path)


def sources_from_archive(path: Path, max_bytes: int, name: str = "") -> list[Source]:
    """The archive's members as sources; ImportSourceError, naming the file as `name`
    (default: its own name) and the damage, when the archive cannot be opened."""
    try:
        archive = zipfile.ZipFile(path)
    # What a damaged central directory raises besides BadZipFile: a name flagged UTF-8 that
    # is not, a nonsense "version needed to extract".
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
        raise ImportSourceError(f"{name or path.name} is a damaged zip archive: {_damage(error)}") from None
    with archive:
        members = sorted((m for m in archive.infolist() if not m.is_dir()), key=lambda m: m.filename)
    manifest = next((member for member in members if member.filename.lower() == MANIFEST), None)
    if manifest is not None:
        return _manifest_sources(path, manifest, members, max_bytes, name or path.name)
    return [_source(path, member, max_bytes) for member in members]


def _damage(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"a member's name is not valid UTF-8, as the archive says it is ({error.reason})"
    if isinstance(error, NotImplementedError):
        return f"it asks for a zip feature that cannot be read ({error})"
    if str(error) == "File is not a zip file":
        # What zipfile says when it finds no end record: the usual result of a cut download.
        return "its central directory (the list of members at its end) is missing; the file may be cut short"
    return str(error)


def _source(path: Path, member: zipfile.ZipInfo, max_bytes: int) -> Source:
    name = member.filename
    problem = _unsafe(member)
    if problem:
        return Source(None, "", name, rejected=problem)
    parts = PurePosixPath(name).parts
    return _member_source(path, member, parts[0] if len(parts) > 1 else "", max_bytes)


def _manifest_sources(
    path: Path, manifest: zipfile.ZipInfo, members: list[zipfile.ZipInfo], max_bytes: int, name: str
) -> list[Source]:
    where = f"{manifest.filename} in {name}"
    if _unsafe(manifest):
        raise ImportSourceError(f"{where} cannot be read: {_unsafe(manifest)}")
    try:
        text = _read_member(path, manifest.filename, max_bytes).decode("utf-8-sig")
    except (RejectedImage, UnicodeDecodeError) as error:
        raise ImportSourceError(f"{where} cannot be read: {error}") from None
    by_name = {member.filename: member for member in members}
    sources, named = [], {manifest.filename}
    for line, relative, label in manifest_rows(io.StringIO(text, newline=""), where):
        problem = _leaves_archive(relative) if relative else "path is empty"
        # "./a.png" and "a.png" name the same member.
        member_name = str(PurePosixPath(relative.replace("\\", "/"))) if relative else ""
        member = None if problem else by_name.get(member_name)
        if not problem and member is None:
            problem = "the archive holds no such file"
        if member is not None:
            named.add(member.filename)
            problem = _unsafe(member)
        if problem:
            sources.append(Source(None, label, relative or f"(line {line}: empty path)", rejected=problem))
        else:
            sources.append(_member_source(path, member, label, max_bytes))
    left_out = f"it is not named in {manifest.filename}"
    sources += [Source(None, "", m.filename, rejected=left_out) for m in members if m.filename not in named]
    return sources


def _member_source(path: Path, member: zipfile.ZipInfo, label: str, max_bytes: int) -> Source:
    name = member.filename
    return Source(None, label, name, reader=lambda: _read_member(path, name, max_bytes))


def _unsafe(member: zipfile.ZipInfo) -> str:
    problem = _leaves_archive(member.filename)
    if problem:
        return problem
    if stat.S_ISLNK(member.external_attr >> 16):
        return "it is a link, not a file"
    return ""


def _leaves_archive(name: str) -> str:
    name = name.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
        return "its path would leave the archive"
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
    # A damaged member (bad checksum, broken compressed data, a name flagged UTF-8 that is
    # not, data that ends early), an encrypted one, an unknown compression method.
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        UnicodeDecodeError,
        RuntimeError,
        NotImplementedError,
        OSError,
    ) as error:
        raise RejectedImage(f"unreadable in the archive: {error}") from None
    return b"".join(chunks)
