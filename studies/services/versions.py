"""What changed between two frozen versions of a study, for the admin's version page."""

from studies.models import StudyVersion


def flatten(config, prefix: str = "") -> dict[str, object]:
    """{"a.b": value} for nested dicts; lists (e.g. conditions) by index."""
    if isinstance(config, dict):
        items = config.items()
    elif isinstance(config, list):
        items = ((str(n), value) for n, value in enumerate(config))
    else:
        return {prefix: config}
    flat = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    if not flat and prefix:
        flat[prefix] = config  # an empty dict or list is a value too
    return flat


def diff(old: dict, new: dict) -> list[tuple[str, object, object]]:
    """(setting, before, after) for each setting that differs; absent settings are None."""
    before, after = flatten(old), flatten(new)
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def previous(version: StudyVersion) -> StudyVersion | None:
    return version.study.versions.filter(number__lt=version.number).order_by("-number").first()
