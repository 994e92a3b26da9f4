"""Errors raised by study services; the API turns each into a 4xx with its message."""


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, detail: str, code: str | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.extra = extra


class Invalid(ServiceError):
    status = 400
    code = "invalid"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"
