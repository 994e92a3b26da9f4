"""A Content-Security-Policy on every response (Django 5.2 has none built in).

Pages load scripts, styles, images and data from this site only, and nothing may frame
them. Participant pages run no inline script (their configuration is JSON that
`json_script` writes, which browsers do not execute); stimuli are shown from blob: URLs
after their checksum is verified. The admin alone may use inline style attributes, which
Django's admin templates write."""

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
ADMIN_POLICY = {**POLICY, "style-src": "'self' 'unsafe-inline'"}
ADMIN_PREFIX = "/admin/"  # as config/urls.py mounts it


def _header(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.strict = _header(POLICY)
        self.admin = _header(ADMIN_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            admin = request.path.startswith(ADMIN_PREFIX)
            response["Content-Security-Policy"] = self.admin if admin else self.strict
        return response
