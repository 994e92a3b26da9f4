"""Object permissions on what studies are built on: image sets and their images.

Django asks every backend in AUTHENTICATION_BACKENDS and grants what any one grants.
ModelBackend answers for models and refuses every object; this backend answers for these
objects only, and authenticates nobody. An object permission holds when the user has the
model permission and sees every study built on the object (services/access.py), so
`user.has_perm(perm, obj)` alone is the whole answer. inference/admin.py and
inference/api.py ask it; inference may not import studies, which depends on it.

`inference.add_image` on an image set is adding images to that set (the upload endpoint),
which has always needed that permission rather than `change_imageset`."""

from django.contrib.auth.backends import BaseBackend

from inference.models import Image, ImageSet
from studies.services import access

GUARDED = {
    ImageSet: (
        {"inference.add_image", "inference.change_imageset", "inference.delete_imageset"},
        access.may_change_image_set,
    ),
    Image: ({"inference.change_image", "inference.delete_image"}, access.may_change_image),
}


class StudyAccessBackend(BaseBackend):
    def has_perm(self, user_obj, perm, obj=None):
        permissions, allowed = GUARDED.get(type(obj), ((), None))
        if perm not in permissions:
            return False
        # The model permission first: it is cached on the user, the study query is not.
        return user_obj.has_perm(perm) and allowed(user_obj, obj)
