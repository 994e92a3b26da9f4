"""Recruitment platforms: which URL parameter identifies a recruit, the MTurk preview, and
where a completed participant is sent back to.

Prolific links carry PROLIFIC_PID, STUDY_ID and SESSION_ID; MTurk's carry workerId,
assignmentId, hitId and turkSubmitTo, and assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE while a
worker only previews the HIT. All parameters are kept raw in Recruitment only."""

from urllib.parse import urlencode, urlsplit

from studies.services.errors import Conflict, Invalid

IDENTITY_KEYS = {"prolific": "PROLIFIC_PID", "mturk": "workerId", "anonymous": ""}
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
# turkSubmitTo comes from the link: only MTurk's own hosts are followed (no open redirect).
MTURK_HOSTS = {"www.mturk.com", "workersandbox.mturk.com"}
PROLIFIC_COMPLETION = "https://app.prolific.com/submissions/complete"


def identity_key(platform: str, custom_param: str) -> str:
    """The URL parameter that identifies a recruit on this platform ("" for anonymous)."""
    return IDENTITY_KEYS.get(platform, custom_param)


def check_entry(config: dict, params: dict[str, str]) -> str:
    """The recruit's identity value ("" for anonymous links), or the reason they cannot
    start: an MTurk preview creates no participant."""
    if config.get("platform") == "mturk" and params.get("assignmentId") == MTURK_PREVIEW:
        raise Conflict("This is a preview of the task. Accept the HIT to start.", code="mturk_preview")
    key = config["identity_param"]
    if not key:
        return ""
    value = params.get(key, "").strip()
    if not value:
        raise Invalid(
            f"This link is missing the {key} parameter; please use the link from the recruitment site.",
            code="missing_identity",
        )
    return value


def completion_redirect(config: dict, params: dict[str, str], code: str) -> str:
    """Where a completed participant goes: the study's redirect URL, else the platform's."""
    if config.get("redirect_url"):
        return config["redirect_url"]
    if config.get("platform") == "prolific":
        return f"{PROLIFIC_COMPLETION}?{urlencode({'cc': code})}"
    if config.get("platform") == "mturk":
        target = urlsplit(params.get("turkSubmitTo", ""))
        assignment = params.get("assignmentId", "")
        if target.scheme == "https" and target.hostname in MTURK_HOSTS and assignment:
            query = urlencode({"assignmentId": assignment, "completion_code": code})
            return f"https://{target.hostname}/mturk/externalSubmit?{query}"
    return ""
