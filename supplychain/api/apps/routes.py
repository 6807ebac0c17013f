"""Apps of a chain and the grants that share them with partners."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from supplychain.api.common import (
    access_to,
    authenticated_blueprint,
    idempotent,
    no_content,
    paged_list,
    paged_rows,
)
from supplychain.extensions import db
from supplychain.identity import app_clients
from supplychain.schemas import apps as s
from supplychain.schemas.common import PageQuery
from supplychain.services import apps

blp = authenticated_blueprint("apps", __name__, url_prefix="/chains", description="Apps and grants")
BLUEPRINTS = (blp,)


@blp.route("/<id:cid>/apps")
class Apps(MethodView):
    @blp.paged(PageQuery, s.AppPageSchema)
    def get(self, query, cid):
        """Built-in and custom apps; a partner sees only those shared with its org."""
        found = apps.list_apps(db.session, access_to(cid))
        return paged_list(found, query)

    @blp.creates(s.AppCreateSchema, s.AppClientSchema, secrets=("client_secret",))
    def post(self, body, cid):
        """Register a custom app (owner admins). With `redirect_uris` it is an OpenID Connect
        client: the answer holds `client_id` and `client_secret`, the secret shown only here
        (an idempotent replay answers it as null)."""
        return app_clients.register(
            db.session, access_to(cid), **body, allow_private=_allow_private()
        )


def _allow_private() -> bool:
    return current_app.config["WEBHOOK_ALLOW_PRIVATE"]


@blp.route("/<cid>/apps/<key>")
class AppItem(MethodView):
    @blp.response(200, s.AppClientSchema)
    def get(self, cid, key):
        """One custom app: owner admins see its client settings; partners it is shared with
        see the app."""
        return app_clients.get(db.session, access_to(cid), key)

    @blp.changes(s.AppUpdateSchema, s.AppClientSchema)
    def patch(self, body, cid, key):
        """Change a custom app (owner admins). Redirect URIs given to an app that had none make
        it a client: the answer then holds its secret, once."""
        return app_clients.update_app(
            db.session, access_to(cid), key, **body, allow_private=_allow_private()
        )

    @blp.response(204)
    def delete(self, cid, key):
        """Delete a custom app: its grants end, and every token and session issued to it (each
        app session gets a back-channel logout)."""
        app_clients.delete(db.session, access_to(cid), key)
        return no_content()


@blp.route("/<cid>/apps/<key>/secret")
class AppSecret(MethodView):
    @idempotent(secrets=("client_secret",))
    @blp.response(200, s.AppClientSchema)
    def post(self, cid, key):
        """A new client secret, shown once; the old one stops working at once."""
        return app_clients.new_secret(db.session, access_to(cid), key)


@blp.route("/<cid>/apps/<key>/shares")
class AppShares(MethodView):
    @blp.response(200, s.SharesSchema)
    def get(self, cid, key):
        """The partner orgs the app is shared with now (owner admins)."""
        return {"items": app_clients.shares(db.session, access_to(cid), key)}


@blp.route("/<id:cid>/grants")
class Grants(MethodView):
    @blp.paged(PageQuery, s.GrantPageSchema)
    def get(self, query, cid):
        """Live grants of the chain (owner admins)."""
        return paged_rows(apps.grants_query(access_to(cid)), query)

    @blp.creates(s.GrantCreateSchema, s.GrantSchema)
    def post(self, body, cid):
        """Share an app with all partners, a tier, a group (with subgroups) or one org."""
        scope = body["scope"]
        return apps.create_grant(
            db.session, access_to(cid), body["app"], scope["type"], scope.get("value")
        )


@blp.route("/<id:cid>/grants/<id:gid>")
class GrantItem(MethodView):
    @blp.response(204)
    def delete(self, cid, gid):
        """Revoke a grant; it stops covering partners on their next request."""
        apps.revoke_grant(db.session, access_to(cid), gid)
        return no_content()
