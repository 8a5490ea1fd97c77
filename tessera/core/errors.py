"""The one error hierarchy; every expected failure is a 4xx in Mastodon's shape."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "TesseraError",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "ValidationFailed",
]


class TesseraError(Exception):
    """An expected failure with the HTTP status it maps to."""

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        description: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.description = description
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.description is not None:
            body["error_description"] = self.description
        if self.details is not None:
            body["details"] = self.details
        return body


class BadRequest(TesseraError):
    status_code = 400


class Unauthorized(TesseraError):
    status_code = 401


class Forbidden(TesseraError):
    status_code = 403


class NotFound(TesseraError):
    status_code = 404

    def __init__(self, message: str = "Record not found", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class Conflict(TesseraError):
    status_code = 409


class Gone(TesseraError):
    status_code = 410


class PayloadTooLarge(TesseraError):
    status_code = 413


class Unprocessable(TesseraError):
    status_code = 422


class Unavailable(TesseraError):
    """503: a backing service this answer needs does not answer; try again later."""

    status_code = 503


class ValidationFailed(TesseraError):
    """422 with Mastodon's `Validation failed: …` text and per-field details."""

    status_code = 422

    def __init__(self, field_errors: dict[str, list[tuple[str, str]]]) -> None:
        summary = ", ".join(
            f"{field.replace('_', ' ').capitalize()} {text}"
            for field, errors in field_errors.items()
            for _, text in errors
        )
        details = {
            field: [{"error": code, "description": text} for code, text in errors]
            for field, errors in field_errors.items()
        }
        super().__init__(f"Validation failed: {summary}", details=details)

    @classmethod
    def one(cls, field: str, code: str, text: str) -> ValidationFailed:
        return cls({field: [(code, text)]})


class RateLimited(TesseraError):
    status_code = 429

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("Too many requests", headers=headers)
