"""`prompt` and `max_age` (OpenID Connect Core §3.1.2.1): when an authorization request makes
the person sign in again, and the one-time mark that lets the request go on after they did.

- `prompt=login`, `max_age=0`, or a page sign-in older than `max_age` seconds: the person goes
  through the sign-in page even if signed in; the authorization continues after a fresh sign-in
  and the code carries the new `auth_time`.
- `prompt=none`: never a page. Not signed in (or a sign-in too old for `max_age`):
  `login_required`; signed in but the org not covered: `access_denied`, as without it.
- `prompt=consent`: the owner's grant is the consent (there is no consent screen), so it is
  satisfied; `prompt=select_account`: a browser session holds one account, the one signed in (or
  the sign-in page chooses it). Values outside these four are ignored, as Core (errata set 2)
  allows and Authlib does; `none` with any other value, a repeated `prompt` or `max_age`, or a
  `max_age` that is not a whole number of seconds: `invalid_request`.

Breaking the loop "prompt=login → sign in → back to the same request with prompt=login": before
sending the person to sign in, the page session records the request (its client and PKCE
challenge, unique per request) with the id of the sign-in it held then. When that request comes
back under another sign-in (one made since: every sign-in is a new login token), it is satisfied
once and the mark is dropped; a replay of the request, or another request, asks again. The mark
lives in the signed session cookie and survives the sign-in (`security.sign_in` keeps it); sign-out
drops it. This is how oidc-provider resumes an interaction: its result satisfies the prompt once.

A fresh sign-in through the company IdP (services/sso_signin.py): the mark also holds when the
request asked (`asked_at`) and its `max_age`. A company sign-in started from the sign-in page
of such a request (`demand_for` its `next`) asks the IdP for `prompt=login` (and `max_age`), and
its ID token's `auth_time` must be no older than `asked_at` less AUTH_TIME_SKEW. The mark is
satisfied only by a sign-in whose authentication time (the IdP's for a company sign-in:
ui/security.py `login_auth_time`) is that recent, so a company sign-in started elsewhere, which
the IdP may answer from its own old session, does not count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.core.errors import LoginRequiredError
from flask import session, url_for

from supplychain.identity_sso.tokens import AUTH_TIME_SKEW, Demand

SUPPORTED = ("none", "login", "consent", "select_account")
MARKS = "oidc_reauth"  # the session key; `security.sign_in` keeps it across a sign-in
_KEPT = 4  # requests waiting for a fresh sign-in at once (several tabs)
_MAX_AGE_DIGITS = 10


@dataclass(frozen=True)
class Prompt:
    """What an authorization request asks of the sign-in."""

    none: bool
    login: bool  # prompt=login or max_age=0
    max_age: int | None
    request_key: str

    def sign_in_too_old(self, auth_time: int, now: int) -> bool:
        """The page sign-in must be made again: `prompt=login`, or older than `max_age`."""
        if self.login:
            return True
        return self.max_age is not None and now - auth_time > self.max_age


def read(grant: Any) -> Prompt:
    """The request's `prompt` and `max_age`, checked (`invalid_request` to the redirect URI)."""
    payload = grant.request.payload

    def refuse(description: str) -> InvalidRequestError:
        return InvalidRequestError(
            description, redirect_uri=grant.redirect_uri, state=payload.state
        )

    for name in ("prompt", "max_age"):
        if len(payload.datalist.get(name, [])) > 1:
            raise refuse(f"Multiple '{name}' in request.")
    values = set((payload.data.get("prompt") or "").split())
    if "none" in values and len(values) > 1:
        raise refuse("prompt=none cannot be combined with other values.")
    raw = payload.data.get("max_age")
    max_age = None
    if raw:  # RFC 6749 §3.1: a parameter sent without a value is as if omitted
        if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_AGE_DIGITS):
            raise refuse("max_age must be a whole number of seconds.")
        max_age = int(raw)
    return Prompt(
        none="none" in values,
        login="login" in values or max_age == 0,
        max_age=max_age,
        request_key=_request_key(payload.client_id, payload.data.get("code_challenge")),
    )


def _request_key(client_id: Any, challenge: Any) -> str:
    return hashlib.sha256(f"{client_id}\n{challenge or ''}".encode()).hexdigest()[:32]


def login_required(grant: Any) -> LoginRequiredError:
    """`prompt=none` and the person would have to sign in."""
    return LoginRequiredError(redirect_uri=grant.redirect_uri, state=grant.request.payload.state)


def _marks() -> list[list[Any]]:
    """[request key, login token id, asked at, max_age or None] per waiting request (a mark of
    another form, e.g. from before an upgrade, is dropped: the person signs in once more)."""
    found = session.get(MARKS)
    if not isinstance(found, list):
        return []
    return [
        m
        for m in found
        if isinstance(m, list)
        and len(m) == 4
        and isinstance(m[2], int)
        and (m[3] is None or isinstance(m[3], int))
    ]


def await_sign_in(prompt: Prompt, login_token_id: int | None, now: int) -> None:
    """Record that this request waits for a sign-in newer than `login_token_id`, authenticated
    since `now` (only when it asks for a fresh one: a plain request needs no mark to go on after
    the sign-in)."""
    if not prompt.login and prompt.max_age is None:
        return
    marks = [m for m in _marks() if m[0] != prompt.request_key]
    marks.append([prompt.request_key, login_token_id or 0, now, prompt.max_age])
    session[MARKS] = marks[-_KEPT:]


def signed_in_since_asked(prompt: Prompt, login_token_id: int, auth_time: int) -> bool:
    """This request sent the person to sign in and they did since, authenticating after it
    asked (`auth_time`): true once (the mark goes)."""
    marks = _marks()
    for mark in marks:
        if mark[0] == prompt.request_key:
            if mark[1] == login_token_id or auth_time < mark[2] - AUTH_TIME_SKEW:
                return False
            marks.remove(mark)
            session[MARKS] = marks
            return True
    return False


def demand_for(next_url: str | None) -> Demand | None:
    """The fresh sign-in the authorization request at `next_url` (where the sign-in page goes
    on to) waits for, if it is such a request and it does."""
    if not next_url:
        return None
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or parts.path != url_for("oidc.authorize"):
        return None
    query = parse_qs(parts.query)
    client_id = query.get("client_id", [""])[-1]
    key = _request_key(client_id, query.get("code_challenge", [""])[-1])
    for mark in _marks():
        if mark[0] == key:
            return Demand(since=mark[2], max_age=mark[3])
    return None
