"""Participant sessions: entry, resume, consent, withdrawal, and what state they are in.

Invariants:
- A bearer token is 256 random bits; only its sha256 is stored.
- With an identity parameter configured (e.g. PROLIFIC_PID), one recruit is one
  participant: coming back resumes (and re-issues the token, so the newest link works);
  the database's unique constraint settles two simultaneous first visits.
- Raw URL parameters are stored only in Recruitment; everything else uses a pseudonym.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from studies.models import AuditLog, Participant, Recruitment, Response, Study, StudyVersion
from studies.services import allocation, blocks, markdown, prepared_statements, recruitment
from studies.services.errors import Conflict, Invalid, NotFound
from studies.services.trials import assign_trials, progress


@dataclass
class Entry:
    participant: Participant
    token: str
    created: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_hash(study: Study, value: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{study.pk}:{value}".encode(), hashlib.sha256).hexdigest()


PREVIEW_SALT = "secondlook.preview"
PREVIEW_MAX_AGE = 7 * 24 * 3600


def preview_token(study: Study) -> str:
    """A link parameter that lets a researcher take the study as a test participant."""
    return signing.dumps({"study": study.pk}, salt=PREVIEW_SALT)


def _preview_kind(study: Study, params: dict[str, str]) -> str | None:
    """Participant.Kind.TEST for a valid preview link of this study, None without one.

    Only the admin's signed link is a preview: an empty value is no preview at all (the
    study's status and identity rules apply), and any other value is refused."""
    token = params.get("preview", "")
    if not token:
        return None
    try:
        data = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.BadSignature:
        raise Invalid("This preview link is invalid or has expired.", code="bad_preview") from None
    if not isinstance(data, dict) or data.get("study") != study.pk:
        raise Invalid("This preview link belongs to another study.", code="bad_preview")
    return Participant.Kind.TEST


def _study(slug: str) -> Study:
    study = Study.objects.select_related("current_version").filter(slug=slug).first()
    if study is None:
        raise NotFound("There is no study at this address.", code="unknown_study")
    return study


def _check_open(study: Study, preview: bool) -> None:
    """Live and pilot studies take participants; a preview also runs a paused or closed one."""
    open_to = (Study.Status.LIVE, Study.Status.PILOT) + (
        (Study.Status.PAUSED, Study.Status.CLOSED) if preview else ()
    )
    if study.status not in open_to or study.current_version is None:
        raise Conflict(
            "This study is not accepting participants at the moment.",
            code="study_not_live",
            status=study.status,
        )


def enter(slug: str, params: dict[str, str]) -> Entry:
    """Create a participant for a recruit, or resume the one they already are."""
    study = _study(slug)
    kind = _preview_kind(study, params)
    preview = kind is not None
    _check_open(study, preview)
    if kind is None:
        kind = Participant.Kind.PILOT if study.status == Study.Status.PILOT else Participant.Kind.REAL
    # The frozen version decides, not the editable Study row. A preview needs no identity.
    value = "" if preview else recruitment.check_entry(study.current_version.config, params)
    params = {key: value for key, value in params.items() if key != "preview"}
    identity = ""
    if value:
        identity = identity_hash(study, value)
        existing = _resume(study, identity)
        if existing:
            return existing
    token = secrets.token_urlsafe(32)
    # A newcomer learns at once when every place is taken (consent checks again, locked).
    room = kind != Participant.Kind.REAL or allocation.has_room(study, study.current_version.config)
    try:
        with transaction.atomic():
            participant = Participant.objects.create(
                study=study,
                version=study.current_version,
                pseudonym=secrets.token_hex(8),
                token_hash=hash_token(token),
                identity_hash=identity,
                kind=kind,
                status=Participant.Status.CONSENT if room else Participant.Status.FULL,
                finished_at=None if room else timezone.now(),
            )
            Recruitment.objects.create(participant=participant, params=params)
    except IntegrityError:
        # The same recruit arrived twice at once; the other request created them.
        resumed = _resume(study, identity) if identity else None
        if resumed is None:
            raise
        return resumed
    return Entry(participant, token, created=True)


def _resume(study: Study, identity: str) -> Entry | None:
    token = secrets.token_urlsafe(32)
    updated = Participant.objects.filter(study=study, identity_hash=identity).update(
        token_hash=hash_token(token)
    )
    if not updated:
        return None
    return Entry(Participant.objects.get(study=study, identity_hash=identity), token, created=False)


def revoke_tokens(participants, by: str) -> int:
    """The participants' bearer tokens stop working at once (a leaked link, a suspected
    bot). A recruit who comes back through the study link with their identity parameter
    gets a new token, as any returning recruit does; their answers are kept."""
    revoked = 0
    for participant in participants:
        with transaction.atomic():
            # The hash of a token nobody holds: no request can match it.
            Participant.objects.filter(pk=participant.pk).update(
                token_hash=hash_token(secrets.token_urlsafe(32))
            )
            AuditLog.objects.create(
                study_id=participant.study_id,
                participant_pseudonym=participant.pseudonym,
                action="token_revoked",
                detail={"by": by},
            )
        revoked += 1
    return revoked


# What every participant request reads of the participant (no datetimes, which would need
# the backend's converters); the other fields load when first read.
PARTICIPANT_FIELDS = [
    "id",
    "study_id",
    "version_id",
    "pseudonym",
    "status",
    "seed",
    "consent_version",
    "kind",
    "condition",
    "rotation",
    "excluded",
]
# Every participant request starts here, so it is one statement of plain SQL: the ORM's
# compilation of the same join cost more than the database did (bench/load.py --profile).
TOKEN_SQL = (
    f"SELECT {', '.join(f'p.{name}' for name in PARTICIPANT_FIELDS)}, "
    "s.requests_per_token_per_minute, s.requests_per_address_per_minute, v.config "
    f"FROM {Participant._meta.db_table} p "
    f"JOIN {Study._meta.db_table} s ON s.id = p.study_id "
    f"JOIN {StudyVersion._meta.db_table} v ON v.id = p.version_id "
    "WHERE p.token_hash = %s"
)


def participant_for_token(token: str) -> Participant | None:
    """The token's participant, with what every participant request reads of their study
    (its rate limits) and version (the frozen config) already loaded; any other field of
    the three loads when first read."""
    with connection.cursor() as cursor:
        prepared_statements.execute(cursor, "secondlook_token", TOKEN_SQL, [hash_token(token)])
        row = cursor.fetchone()
    if row is None:
        return None
    *fields, token_limit, address_limit, config = row
    participant = _loaded(Participant, dict(zip(PARTICIPANT_FIELDS, fields, strict=True)))
    participant.study = _loaded(
        Study,
        {
            "id": participant.study_id,
            "requests_per_token_per_minute": token_limit,
            "requests_per_address_per_minute": address_limit,
        },
    )
    participant.version = _loaded(
        StudyVersion,
        {"id": participant.version_id, "study_id": participant.study_id, "config": json.loads(config)},
    )
    return participant


def _loaded(model, values: dict):
    """An instance of `model` with only `values` loaded; its other fields load when first read."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])


def state(participant: Participant) -> str:
    """The state named in the participant API contract."""
    if participant.status in (Participant.Status.SCREENED_OUT, Participant.Status.FULL):
        return participant.status
    if participant.is_finished:
        return "done"
    if participant.status == Participant.Status.CONSENT:
        return "consent"
    return "trials"


def describe(participant: Participant) -> dict:
    config = participant.version.config
    return {
        "participant": participant.pseudonym,
        "state": state(participant),
        "progress": progress(participant),
        "consent": {
            "version": config["consent_version"],
            "text": config["consent_text"],
            "html": markdown.render(config["consent_text"]),
        },
        "instructions": config["instructions"],
        "instructions_html": markdown.render(config["instructions"]),
        "completion": completion(participant),
        # The page shows a researcher's preview a banner; pilot participants are real
        # people trying the study out and see what everyone else sees.
        "preview": participant.kind == Participant.Kind.TEST,
    }


def completion(participant: Participant) -> dict | None:
    if not participant.is_finished:
        return None
    params = Recruitment.objects.filter(participant=participant).values_list("params", flat=True).first()
    return recruitment.outcome(participant.version.config, params or {}, participant.status)


def give_consent(participant: Participant, version: int, agree: bool) -> Participant:
    with transaction.atomic():
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        if participant.status != Participant.Status.CONSENT:
            raise Conflict("Consent was already answered in this session.", code="consent_answered")
        expected = participant.version.config["consent_version"]
        if version != expected:
            raise Invalid(
                f"Consent version {version} is not the current one ({expected}); reload the page.",
                code="stale_consent",
            )
        if not agree:
            participant.finish(Participant.Status.NO_CONSENT)
            return participant
        participant.consent_version = version
        participant.consented_at = participant.last_active_at = timezone.now()
        # Places and items are decided one consent at a time per study (see allocation).
        participant.study = Study.objects.select_for_update().get(pk=participant.study_id)
        participant.condition = allocation.assign_condition(participant)
        if participant.condition and participant.version.config.get("blocks"):
            participant.rotation = blocks.next_rotation(participant)
        participant.status = Participant.Status.ACTIVE
        participant.save(
            update_fields=[
                "status",
                "consent_version",
                "consented_at",
                "last_active_at",
                "condition",
                "rotation",
            ]
        )
        if not participant.condition or not assign_trials(participant):
            participant.finish(Participant.Status.FULL)
    return participant


def withdraw(participant: Participant) -> Participant:
    """Withdrawal of consent: the participant's answers are deleted, the fact is kept."""
    with transaction.atomic():
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        if participant.status == Participant.Status.WITHDRAWN:
            return participant
        deleted, _ = Response.objects.filter(trial__participant=participant).delete()
        participant.finish(Participant.Status.WITHDRAWN)
        AuditLog.objects.create(
            study_id=participant.study_id,
            participant_pseudonym=participant.pseudonym,
            action="withdrawn",
            detail={"responses_deleted": deleted},
        )
    return participant
