"""Domain errors raised by services, and the one handler that maps them to JSON responses."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES


class DomainError(Exception):
    """Base of the errors services raise; `code` is the HTTP status the handler answers with."""

    code = 400

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class BadRequest(DomainError):
    code = 400


class Unauthorized(DomainError):
    code = 401


class Forbidden(DomainError):
    code = 403


class NotFound(DomainError):
    code = 404


class Conflict(DomainError):
    code = 409


class TooLarge(DomainError):
    code = 413


class Busy(DomainError):
    """Temporarily unable to take more of this work: ask again later (with Retry-After)."""

    code = 503


class TooManyRequests(DomainError):
    """Refused for a while (sign-in throttling); `retry_after` says for how many seconds."""

    code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooSoon(Conflict):
    """A conflict that passes with time (an invitation resent within the hour): `retry_after`
    says in how many seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Invalid(DomainError):
    """Validation failed; `errors` names each bad field."""

    code = 422


def error_payload(code: int, message: str, errors: dict[str, Any] | None = None) -> dict:
    """The JSON error shape from API.md: code, status, message and optional per-field errors."""
    payload: dict[str, Any] = {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, "Error"),
        "message": message,
    }
    if errors:
        payload["errors"] = errors
    return payload


def error_response(code: int, message: str, errors: dict[str, Any] | None = None):
    """A Flask JSON response carrying the error shape."""
    response = jsonify(error_payload(code, message, errors))
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="supplychain"'
    if code == 503:
        response.headers["Retry-After"] = "60"
    return response


def _handle_domain_error(error: DomainError):
    response = error_response(error.code, error.message, error.errors)
    if isinstance(error, (TooManyRequests, TooSoon)):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    message = data.get("message") or error.description or error.name
    code = error.code or 500
    if code == 400 and errors and "json" in errors and "_schema" in errors["json"]:
        # webargs reports a body that is not JSON at all as a 400 on the body.
        message = "Malformed JSON body."
    if code == 422 and not data.get("message"):
        message = "Validation failed: " + _describe_fields(errors or {})
    return error_response(code, message, errors)


def _describe_fields(errors: dict[str, Any], prefix: str = "") -> str:
    """Name the offending fields, e.g. `json.contacts.0.email`, for a readable message."""
    names: list[str] = []
    for key, value in errors.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            names.append(_describe_fields(value, name + "."))
        else:
            names.append(name)
    return ", ".join(names)


def _handle_unexpected(error: Exception):
    # Still JSON, never an HTML traceback; the error itself is logged by Flask.
    if isinstance(error, HTTPException):
        return _handle_http_exception(error)
    return error_response(500, InternalServerError.description)


def register_error_handlers(app: Flask) -> None:
    """Route domain errors, HTTP errors and anything unexpected through the JSON error shape."""
    app.register_error_handler(DomainError, _handle_domain_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(InternalServerError, _handle_unexpected)
