"""Apps of a chain and the grants that share them with partners."""

from __future__ import annotations

from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent, no_content
from supplychain.extensions import db
from supplychain.schemas import apps as s
from supplychain.schemas.common import PageQuery
from supplychain.services import apps
from supplychain.services.pagination import page_of_list, paginate

blp = authenticated_blueprint("apps", __name__, url_prefix="/chains", description="Apps and grants")
BLUEPRINTS = (blp,)


@blp.route("/<id:cid>/apps")
class Apps(MethodView):
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, s.AppPageSchema)
    def get(self, query, cid):
        """Built-in and custom apps; a partner sees only those shared with its org."""
        found = apps.list_apps(db.session, access_to(cid))
        return page_of_list(found, query["page"], query["page_size"]).envelope()

    @idempotent
    @blp.arguments(s.AppCreateSchema)
    @blp.response(201, s.AppSchema)
    def post(self, body, cid):
        """Register a custom app (owner admins)."""
        app = apps.register_app(db.session, access_to(cid), **body)
        return apps.AppView(app.key, app.name, app.url, app.description, False, app.id)


@blp.route("/<id:cid>/grants")
class Grants(MethodView):
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, s.GrantPageSchema)
    def get(self, query, cid):
        """Live grants of the chain (owner admins)."""
        stmt = apps.grants_query(access_to(cid))
        return paginate(db.session, stmt, query["page"], query["page_size"]).envelope()

    @idempotent
    @blp.arguments(s.GrantCreateSchema)
    @blp.response(201, s.GrantSchema)
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
