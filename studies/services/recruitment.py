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


def outcome(config: dict, params: dict[str, str], status: str) -> dict:
    """{"outcome", "code", "redirect_url"} for a participant who finished with `status`.

    The study's own code and redirect URL for that outcome come first. Otherwise Prolific
    gets its completion URL with the code (when there is one), and MTurk workers who
    completed go back to MTurk's externalSubmit (only on MTurk's hosts)."""
    configured = config.get("outcomes", {}).get(status, {"code": "", "redirect_url": ""})
    code = configured["code"]
    return {
        "outcome": status,
        "code": code,
        "redirect_url": configured["redirect_url"] or _platform_redirect(config, params, status, code),
    }


def _platform_redirect(config: dict, params: dict[str, str], status: str, code: str) -> str:
    if config.get("platform") == "prolific" and code:
        return f"{PROLIFIC_COMPLETION}?{urlencode({'cc': code})}"
    if config.get("platform") == "mturk" and status == "completed":
        target = urlsplit(params.get("turkSubmitTo", ""))
        assignment = params.get("assignmentId", "")
        if target.scheme == "https" and target.hostname in MTURK_HOSTS and assignment:
            query = urlencode({"assignmentId": assignment, "completion_code": code})
            return f"https://{target.hostname}/mturk/externalSubmit?{query}"
    return ""
