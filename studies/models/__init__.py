"""The study domain: a study, its frozen versions and items, participants, their trials
and responses.

Invariants kept by the database, not only by code: a participant gets an item at most
once and has one trial per position; a trial has at most one response; a recruit (same
identity parameter) is at most one participant of a study.
"""

from .design import Condition, Item, Study, StudyVersion, new_completion_code, new_seed
from .participation import AuditLog, ExclusionEvent, Participant, Recruitment, Response, Trial
from .rate_limit import RateCounter

__all__ = [
    "AuditLog",
    "Condition",
    "ExclusionEvent",
    "Item",
    "Participant",
    "RateCounter",
    "Recruitment",
    "Response",
    "Study",
    "StudyVersion",
    "Trial",
    "new_completion_code",
    "new_seed",
]
