"""Which staff see which studies, for installations that several research groups share.

A researcher sees the studies they are listed on (Study.researchers); superusers and holders
of `studies.access_all_studies` see all. What they may do with a study they see still comes
from Django's model permissions. A study someone may not see is treated as one that does not
exist (404), so nobody learns which slugs are taken.

What studies are built on belongs to their researchers: an image set (and each image in it)
may change only for someone who sees every study built on it, or on a set no study uses.
The authentication backend in studies/auth_backends.py turns this into object permissions,
which the inference app asks for without importing studies."""

from django.db.models import QuerySet
from django.http import Http404

from studies.models import Study

READ_DATA = "studies.view_response"


def sees_every_study(user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm("studies.access_all_studies"))


def studies_for(user) -> QuerySet:
    if sees_every_study(user):
        return Study.objects.all()
    if not (user.is_active and user.is_staff):
        return Study.objects.none()
    return Study.objects.filter(researchers=user)


def may_change_image_set(user, image_set) -> bool:
    """Whether the user sees every study built on image_set (true when none is)."""
    return _sees_all(user, Study.objects.filter(image_set=image_set))


def may_change_image(user, image) -> bool:
    """Whether the user sees every study built on any set that holds the image: a new
    label or a deletion changes each of those sets."""
    return _sees_all(user, Study.objects.filter(image_set__images=image))


def _sees_all(user, studies: QuerySet) -> bool:
    if sees_every_study(user):
        return True
    # One EXISTS query, however many studies there are.
    return not studies.exclude(pk__in=studies_for(user).values("pk")).exists()


def can_read_data(user) -> bool:
    """Whether the user may read participants' data at all (which studies: studies_for)."""
    return bool(user and user.is_active and user.is_staff and user.has_perm(READ_DATA))


def study_for(user, slug: str) -> Study:
    """The study with this slug if the user sees it; Http404 otherwise, exists or not."""
    study = studies_for(user).filter(slug=slug).first()
    if study is None:
        raise Http404("No such study.")
    return study


def add_creator(study: Study, user) -> None:
    """The researcher who creates a study may see it (superusers see it anyway)."""
    if user.is_authenticated:
        study.researchers.add(user)
