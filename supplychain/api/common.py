"""What every API blueprint shares: authentication, chain access, idempotent creation, pages."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from copy import deepcopy
from datetime import timedelta
from functools import wraps
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Response, current_app, g, request
from flask_smorest import abort
from sqlalchemy import Select, select
from webargs.core import parse_json
from webargs.flaskparser import FlaskParser

from supplychain.access import ChainAccess, actor_in_chain, chain_access
from supplychain.auth import authenticate_request, bearer_secret, current_actor
from supplychain.db import Transaction, request_policy
from supplychain.errors import Conflict, Invalid, NotFound
from supplychain.extensions import db
from supplychain.ids import parse_id
from supplychain.models import IdempotencyRecord
from supplychain.models.base import utcnow
from supplychain.services.pagination import page_of_list, paginate

IDEMPOTENCY_TTL = timedelta(hours=48)  # API.md promises at least 24 h
# What a replay repeats besides status and body: where a 202's work can be followed.
REPLAYED_HEADERS = ("Location", "Preference-Applied")
MAX_KEY_LENGTH = 200
# A `\ud800`-style escape decodes to a lone surrogate: a str no database or hash can encode.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class JsonParser(FlaskParser):
    """webargs' parser, also refusing as malformed (400) JSON that parses but that nothing
    could store: strings with lone surrogate escapes, nesting deep enough to exhaust Python's
    recursion limit, and integers longer than Python converts (4 300 digits): each would
    otherwise be a 500."""

    # Read a body as JSON whatever its Content-Type says (WeCom does; wechatpy sends none).
    any_content_type = False

    def _raw_load_json(self, req: Any) -> Any:
        try:
            if self.any_content_type and req.get_data(cache=True):
                data = parse_json(req.get_data(cache=True))
            else:
                data = super()._raw_load_json(req)
        except RecursionError:
            raise json.JSONDecodeError("Nested too deeply", "<body>", 0) from None
        except json.JSONDecodeError:
            raise
        except ValueError:  # int() refusing a number of more than 4 300 digits
            raise json.JSONDecodeError("Number too long", "<body>", 0) from None
        if _has_lone_surrogate(data):
            raise json.JSONDecodeError("Lone surrogate in a string", "<body>", 0)
        return data

    def _handle_invalid_json_error(self, error: Any, req: Any, *args: Any, **kwargs: Any):
        reason = getattr(error, "msg", None) or str(error)
        abort(400, message="Malformed JSON body.", messages={"json": [f"Invalid JSON: {reason}."]})


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint parsing request bodies with `JsonParser`, with the decorator
    stacks our views repeat under one name each."""

    ARGUMENTS_PARSER = JsonParser()

    def paged(self, query_schema: type[ma.Schema], page_schema: type[ma.Schema]) -> Callable:
        """A list view: its filters and page read from the query string by `query_schema`,
        answered 200 with `page_schema` (the list envelope)."""

        def decorate(view: Callable) -> Callable:
            view = self.response(200, page_schema)(view)
            return self.arguments(query_schema, location="query")(view)

        return decorate

    def changes(self, body_schema: type[ma.Schema], schema: type[ma.Schema]) -> Callable:
        """A change or an action on what exists: the JSON body read by `body_schema`, answered
        200 with `schema`."""

        def decorate(view: Callable) -> Callable:
            view = self.response(200, schema)(view)
            return self.arguments(body_schema)(view)

        return decorate

    def creates(
        self,
        body_schema: type[ma.Schema],
        schema: type[ma.Schema],
        *,
        secrets: tuple[str, ...] = (),
    ) -> Callable:
        """A creation: the JSON body read by `body_schema`, answered 201 with `schema`, and
        `Idempotency-Key` honoured (`secrets`: the answer's fields shown only once)."""

        def decorate(view: Callable) -> Callable:
            view = self.response(201, schema)(view)
            view = self.arguments(body_schema)(view)
            return idempotent(view, secrets=secrets)

        return decorate


def authenticated_blueprint(name: str, import_name: str, **kwargs: Any) -> Blueprint:
    """A blueprint whose every view requires a valid bearer token (401 otherwise)."""
    blp = Blueprint(name, import_name, **kwargs)

    @blp.before_request
    def _authenticate() -> None:
        cid = (request.view_args or {}).get("cid")
        chain_id = parse_id(cid) if cid is not None else None
        if chain_id is None:
            authenticate_request(db.session)
            return
        # Token and chain membership in one statement: every chain-scoped view needs both.
        g.actor, access = actor_in_chain(db.session, bearer_secret(), chain_id)
        g.chain_access = (chain_id, access)

    return blp


def access_to(cid: int | str | None) -> ChainAccess:
    """The caller's standing in chain `cid` from the path; 404 if not a member."""
    chain_id = parse_id(cid)
    known = g.get("chain_access")
    if known is not None and known[0] == chain_id:
        if known[1] is None:
            raise NotFound("No such chain.")
        return known[1]
    return chain_access(db.session, current_actor(), chain_id)


def _multipart_canonical() -> str:
    """A multipart body by what it carries: its fields, and each file's name, type and content
    hash. The boundary (random per client call) and part order do not count, so a client that
    rebuilds the same upload for a retry gets the replay it asked for."""
    files = []
    for name, upload in request.files.items(multi=True):
        content = hashlib.sha256()
        while chunk := upload.stream.read(1 << 16):
            content.update(chunk)
        upload.stream.seek(0)  # the view reads it again
        files.append([name, upload.filename or "", upload.mimetype, content.hexdigest()])
    fields = sorted([name, value] for name, value in request.form.items(multi=True))
    return json.dumps({"fields": fields, "files": sorted(files)}, separators=(",", ":"))


def _request_fingerprint() -> str:
    if request.mimetype == "multipart/form-data":
        canonical = _multipart_canonical()
    else:
        body = request.get_data(cache=True)
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            canonical = body.hex()
    text = f"{request.method} {request.path}?{request.query_string.decode('latin-1')}\n{canonical}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Send the same key again with the same request to get the first response "
    "back instead of a second creation (a different request with a used key is 409).",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": r"^[!-~]([ -~]*[!-~])?$",
    },
}


def idempotent(view: Callable[..., Any] | None = None, *, secrets: tuple[str, ...] = ()) -> Any:
    """Honour `Idempotency-Key`: replay the first response to the same request, 409 on a new body.

    `secrets` name the answer's fields that are shown once (a webhook's signing secret, an API
    token): they are never stored for a replay, which answers them as null. The header is added
    to the operation's parameters in the OpenAPI document, saying so."""
    if view is None:
        return lambda view: idempotent(view, secrets=secrets)

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
            raise Invalid(
                "Bad Idempotency-Key.",
                {
                    "headers": {
                        "Idempotency-Key": [f"1 to {MAX_KEY_LENGTH} printable ASCII characters."]
                    }
                },
            )
        # A plain id: after the rollback below the actor's user row would be expired, and
        # reloading it would open an SQLite read snapshot that cannot then become a write.
        user_id = current_actor().user_id
        fingerprint = _request_fingerprint()
        session = db.session
        # Only read before the view runs: a view that commits in sessions of its own (a
        # reconciliation run) would otherwise wait for this request's SQLite write lock.
        stored = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
            )
        )
        if stored is not None and stored.created_at >= utcnow() - IDEMPOTENCY_TTL:
            if stored.request_hash != fingerprint:
                raise Conflict("This Idempotency-Key was used with a different request.")
            g.idempotent_replay = True
            return current_app.response_class(
                stored.response_body,
                status=stored.status_code,
                mimetype="application/json",
                headers={**(stored.response_headers or {}), "Idempotent-Replayed": "true"},
            )
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code < 400:
            if request_policy() is Transaction.OWN:
                # The view committed in sessions of its own while this session only read; on
                # SQLite its old read snapshot can no longer become a write: start afresh.
                session.rollback()
            # An expired record of the same key is reused in place (the key is unique per user).
            record = stored or IdempotencyRecord(user_id=user_id, key=key)
            record.request_hash = fingerprint
            record.status_code = response.status_code
            record.response_body = _without_secrets(response.get_data(as_text=True), secrets)
            record.response_headers = {
                name: response.headers[name]
                for name in REPLAYED_HEADERS
                if name in response.headers
            }
            record.created_at = utcnow()
            session.add(record)
        return response

    wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))  # type: ignore[attr-defined]
    arguments = wrapper._apidoc.setdefault("arguments", {})  # type: ignore[attr-defined]
    parameter = dict(IDEMPOTENCY_KEY_PARAMETER)
    if secrets:
        shown = ", ".join(f"`{name}`" for name in secrets)
        parameter["description"] += (
            f" A replay answers {shown} as null: shown once, in the first answer only, "
            "it is never kept to be replayed."
        )
    arguments.setdefault("parameters", []).append(parameter)
    return wrapper


def _without_secrets(body: str, secrets: tuple[str, ...]) -> str:
    """The answer to keep for replays: the JSON body with each field in `secrets` nulled,
    wherever it is (the invitation codes of a member's contacts, of an import's people)."""
    if not secrets:
        return body
    return current_app.json.dumps(_nulled(json.loads(body), secrets))


def _nulled(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {
            key: None if key in secrets else _nulled(item, secrets) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_nulled(item, secrets) for item in value]
    return value


def paged_rows(stmt: Select, query: dict[str, Any]) -> dict[str, Any]:
    """The list envelope of one page of `stmt`'s rows, at the query's `page` and `page_size`."""
    return paginate(db.session, stmt, query["page"], query["page_size"]).envelope()


def paged_list(items: list[Any], query: dict[str, Any]) -> dict[str, Any]:
    """The list envelope of one page of `items` (a short list already in memory)."""
    return page_of_list(items, query["page"], query["page_size"]).envelope()


def no_content(status: int = 204) -> Response:
    """An empty answer: 204, or 202 for work accepted."""
    return current_app.response_class(status=status)
