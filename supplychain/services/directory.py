"""The chain directory: chains, groups, members, contacts, links, tiers, impact and visibility."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import ColumnElement, Select, bindparam, delete, false, or_, select, update
from sqlalchemy.orm import Session, lazyload

from supplychain import graph as chain_graphs
from supplychain.auth import Actor, digest, token_actor
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from supplychain.models import (
    ApiToken,
    Chain,
    Contact,
    Group,
    Link,
    Member,
    Org,
    User,
    VisibilityRule,
)
from supplychain.models.base import utcnow
from supplychain.models.directory import ORG_KINDS, USER_ROLES
from supplychain.services.accounts import assign_invite_code, find_user_by_email, normalise_email
from supplychain.services.audit import record_event
from supplychain.services.pages import Page, paginate

GRAPHS = chain_graphs.GraphCache()
MAX_GROUP_DEPTH = 10
MAX_CUSTOM_ID = 64
MAX_GROUP_PATH = 500  # the column's width
MAX_SEGMENT_LENGTH = 100
CURRENCIES_PATTERN = "^[A-Z]{3}$"
_TIMEZONES: frozenset[str] | None = None


@dataclass
class ChainAccess:
    """A caller inside one chain: the chain, the caller and its org's membership."""

    chain: Chain
    actor: Actor
    member: Member

    @property
    def chain_id(self) -> int:
        return self.chain.id

    @property
    def is_owner(self) -> bool:
        """The caller belongs to the chain's core org."""
        return self.chain.owner_org_id == self.actor.org_id

    def require_owner(self) -> None:
        """Only the core org's people may do this."""
        if not self.is_owner:
            raise Forbidden("Only the chain owner's people may do this.")

    def require_owner_admin(self) -> None:
        """Only the core org's admins may do this."""
        self.require_owner()
        if not self.actor.is_admin:
            raise Forbidden("Only an admin of the chain owner may do this.")


@dataclass
class NewContact:
    """A contact to add: a person of a partner org (or of the owner)."""

    name: str
    email: str
    mobile: str | None = None
    title: str | None = None
    role: str = "staff"


@dataclass
class AddedContact:
    """A contact row with its invitation code, shown once."""

    contact: Contact
    invite_code: str | None


@dataclass
class MemberView:
    """A member as the API shows it, with its computed tier and optionally its contacts."""

    member: Member
    tier: str
    contacts: list[Any] = field(default_factory=list)


# --- access -----------------------------------------------------------------------------------


def _live_member_of(org_id: Any) -> ColumnElement[bool]:
    """Join condition: `org_id`'s current (not removed) membership of the joined chain."""
    return (Member.chain_id == Chain.id) & (Member.org_id == org_id) & Member.removed_at.is_(None)


# Run by every chain-scoped request: built once, with bound parameters.
_CHAIN_MEMBER = (
    select(Chain, Member)
    .join(Member, _live_member_of(bindparam("org_id")))
    .where(Chain.id == bindparam("chain_id"))
)


# A chain-scoped API request asks both at once: who the token is, and its org's membership in
# the chain of the path (outer joins: a good token in a wrong chain still authenticates).
_TOKEN_CHAIN_MEMBER = (
    select(ApiToken.id, ApiToken.kind, ApiToken.expires_at, User, Chain, Member)
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(Chain, Chain.id == bindparam("chain_id"))
    .outerjoin(Member, _live_member_of(User.org_id))
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.is_live)
    # Orgs and the member's group load when a view asks (their inner joins would also drop
    # the row of a token whose org is no member).
    .options(lazyload(User.org), lazyload(Member.org), lazyload(Member.group))
)


def actor_in_chain(
    session: Session, secret: str, chain_id: int
) -> tuple[Actor, ChainAccess | None]:
    """The token's user (401 if unknown, revoked or expired) and its standing in chain
    `chain_id` (None when the chain is unknown or the org no member), in one statement."""
    row = session.execute(
        _TOKEN_CHAIN_MEMBER, {"token_hash": digest(secret), "chain_id": chain_id}
    ).first()
    if row is None:
        raise Unauthorized("Invalid, expired or revoked token.")
    token_id, kind, expires_at, user, chain, member = row
    actor = token_actor(user, token_id, kind, expires_at)
    if chain is None or member is None:
        return actor, None
    return actor, ChainAccess(chain=chain, actor=actor, member=member)


def chain_access(session: Session, actor: Actor, chain_id: int | None) -> ChainAccess:
    """The caller's standing in a chain; 404 when the chain is unknown or its org is no member."""
    row = None
    if chain_id is not None:
        row = session.execute(_CHAIN_MEMBER, {"org_id": actor.org_id, "chain_id": chain_id}).first()
    if row is None:
        raise NotFound("No such chain.")
    chain, member = row
    return ChainAccess(chain=chain, actor=actor, member=member)


def lock_chain(session: Session, chain: Chain) -> None:
    """Serialise changes to one chain's graph (row lock on PostgreSQL; SQLite writes are serial)."""
    session.execute(select(Chain.id).where(Chain.id == chain.id).with_for_update())


def _bump_graph(session: Session, chain: Chain) -> None:
    """Invalidate cached tiers: the next read rebuilds the graph for the new version."""
    session.execute(
        update(Chain).where(Chain.id == chain.id).values(graph_version=Chain.graph_version + 1)
    )
    session.info.setdefault("graph_dirty", set()).add(chain.id)
    session.refresh(chain, ["graph_version"])


def bump_graph_version(session: Session, chain: Chain) -> None:
    """Mark cached tiers stale after members were added in bulk outside this module (imports)."""
    _bump_graph(session, chain)


# --- chains -----------------------------------------------------------------------------------


def _check_timezone(name: str) -> None:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    if name not in _TIMEZONES:
        raise Invalid("Unknown timezone.", {"timezone": ["Not an IANA timezone name."]})


def create_chain(session: Session, actor: Actor, name: str, currency: str, timezone: str) -> Chain:
    """Create a chain owned by the caller's org (tier core); only org admins may."""
    if not actor.is_admin:
        raise Forbidden("Only an org admin may create a chain.")
    _check_timezone(timezone)
    chain = Chain(name=name, owner_org_id=actor.org_id, currency=currency, timezone=timezone)
    session.add(chain)
    session.flush()
    session.add(Member(chain_id=chain.id, org_id=actor.org_id, custom_id=None))
    session.add(Contact(chain_id=chain.id, org_id=actor.org_id, user_id=actor.user_id))
    session.flush()
    record_event(
        session,
        actor,
        "chain.create",
        "chain",
        chain.id,
        chain_id=chain.id,
        data={"name": name, "currency": currency, "timezone": timezone},
    )
    return chain


def memberships(session: Session, actor: Actor) -> list[ChainAccess]:
    """The caller's standing in every chain its org currently belongs to."""
    rows = session.execute(
        select(Chain, Member).join(Member, _live_member_of(actor.org_id)).order_by(Chain.id)
    ).all()
    return [ChainAccess(chain=c, actor=actor, member=m) for c, m in rows]


def chains_query(actor: Actor) -> Select:
    """Chains the caller's org currently belongs to, oldest first."""
    return select(Chain).join(Member, _live_member_of(actor.org_id)).order_by(Chain.id)


# --- groups -----------------------------------------------------------------------------------


def normalise_group_path(path: str, field_name: str = "path") -> str:
    """A group path is a name like `Dealers/North China`, never a file path: no `..` or empty parts."""
    segments = [segment.strip() for segment in path.split("/")]
    problem = None
    if not path.strip():
        problem = "Must not be empty."
    elif any(not segment for segment in segments):
        problem = "Empty path segment (leading, trailing or double '/')."
    elif any(segment in (".", "..") for segment in segments):
        problem = "'.' and '..' are not group names."
    elif any("\\" in segment for segment in segments):
        problem = "Backslashes are not allowed in group names."
    elif len("/".join(segments)) > MAX_GROUP_PATH:
        problem = f"At most {MAX_GROUP_PATH} characters in all."
    elif len(segments) > MAX_GROUP_DEPTH:
        problem = f"At most {MAX_GROUP_DEPTH} levels."
    elif any(len(segment) > MAX_SEGMENT_LENGTH for segment in segments):
        problem = f"Each level at most {MAX_SEGMENT_LENGTH} characters."
    if problem:
        raise Invalid("Invalid group path.", {field_name: [problem]})
    return "/".join(segments)


def find_group(session: Session, chain_id: int, path: str) -> Group | None:
    """The group at `path` in the chain, if it exists."""
    return session.scalar(select(Group).where(Group.chain_id == chain_id, Group.path == path))


def ensure_group(session: Session, chain_id: int, path: str) -> tuple[Group, bool]:
    """The group at a normalised path, created with any missing parents; True if it was new."""
    segments = path.split("/")
    wanted = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    existing = {
        g.path: g
        for g in session.scalars(
            select(Group).where(Group.chain_id == chain_id, Group.path.in_(wanted))
        )
    }
    parent: Group | None = None
    created = False
    for depth, sub_path in enumerate(wanted):
        group = existing.get(sub_path)
        if group is None:
            group = Group(
                chain_id=chain_id,
                path=sub_path,
                name=segments[depth],
                parent_id=parent.id if parent else None,
            )
            session.add(group)
            session.flush()
            created = True
        parent = group
    assert parent is not None
    return parent, created


def create_group(session: Session, access: ChainAccess, path: str) -> tuple[Group, bool]:
    """Create a group (and missing parents) by path; owner admins only. Existing: returned as is."""
    access.require_owner_admin()
    path = normalise_group_path(path)
    group, created = ensure_group(session, access.chain_id, path)
    if created:
        record_event(
            session,
            access.actor,
            "group.create",
            "group",
            group.id,
            chain_id=access.chain_id,
            data={"path": path},
        )
    return group, created


def groups_query(access: ChainAccess) -> Select:
    """The chain's group tree as a flat list ordered by path."""
    return select(Group).where(Group.chain_id == access.chain_id).order_by(Group.path)


def paths_within(column: Any, paths: list[str]) -> ColumnElement[bool]:
    """SQL: the path column equals one of `paths` or lies below one of them."""
    if not paths:
        return false()
    return or_(
        *[or_(column == path, column.startswith(path + "/", autoescape=True)) for path in paths]
    )


# --- visibility -------------------------------------------------------------------------------


def _rule_matches_viewer(rule: VisibilityRule, org_id: int, group_path: str | None) -> bool:
    viewers = rule.viewers
    if org_id in viewers.get("orgs", []):
        return True
    if group_path is None:
        return False
    return any(
        group_path == path or group_path.startswith(path + "/")
        for path in viewers.get("groups", [])
    )


def visible_members_clause(session: Session, access: ChainAccess) -> ColumnElement[bool] | None:
    """SQL over Member and Group: the members a partner may see (None: the owner sees all)."""
    if access.is_owner:
        return None
    own_group = access.member.group.path if access.member.group else None
    org_ids = {access.chain.owner_org_id, access.actor.org_id}
    paths: list[str] = []
    rules = session.scalars(
        select(VisibilityRule).where(VisibilityRule.chain_id == access.chain_id)
    )
    for rule in rules:
        if _rule_matches_viewer(rule, access.actor.org_id, own_group):
            org_ids.update(rule.visible.get("orgs", []))
            paths.extend(rule.visible.get("groups", []))
    return or_(Member.org_id.in_(sorted(org_ids)), paths_within(Group.path, paths))


# --- tiers ------------------------------------------------------------------------------------


def chain_graph(session: Session, chain: Chain) -> chain_graphs.ChainGraph:
    """The chain's graph with tiers, cached per graph_version (rebuilt only after a change)."""

    def load() -> chain_graphs.ChainGraph:
        org_ids = session.scalars(
            select(Member.org_id).where(Member.chain_id == chain.id, Member.removed_at.is_(None))
        )
        links = session.execute(
            select(Link.supplier_id, Link.customer_id).where(Link.chain_id == chain.id)
        )
        return chain_graphs.build_chain_graph(
            chain.owner_org_id, list(org_ids), [(s, c) for s, c in links]
        )

    if chain.id in session.info.get("graph_dirty", ()):
        # Uncommitted changes: never cache a graph another transaction might not see.
        return load()
    return GRAPHS.get(chain.id, chain.graph_version, load)


# --- members ----------------------------------------------------------------------------------


def _member_base(access: ChainAccess) -> Select:
    return (
        select(Member)
        .join(Org, Org.id == Member.org_id)
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Member.chain_id == access.chain_id, Member.removed_at.is_(None))
    )


def _active_member(session: Session, chain_id: int, org_id: int | None) -> Member | None:
    if org_id is None:
        return None
    return session.scalar(
        select(Member).where(
            Member.chain_id == chain_id, Member.org_id == org_id, Member.removed_at.is_(None)
        )
    )


def require_member(session: Session, access: ChainAccess, org_id: int | None) -> Member:
    """A current member that the caller may see; 404 otherwise."""
    stmt = _member_base(access).where(Member.org_id == org_id)
    clause = visible_members_clause(session, access)
    if clause is not None:
        stmt = stmt.where(clause)
    member = session.scalar(stmt) if org_id is not None else None
    if member is None:
        raise NotFound("No such member in this chain.")
    return member


def _check_custom_id_free(
    session: Session, chain_id: int, custom_id: str, org_id: int | None
) -> None:
    holder = session.scalar(
        select(Member.org_id).where(
            Member.chain_id == chain_id, Member.custom_id == custom_id, Member.removed_at.is_(None)
        )
    )
    if holder is not None and holder != org_id:
        raise Conflict(
            "This custom id belongs to another member.", {"custom_id": ["Already in use."]}
        )


def add_member(
    session: Session,
    access: ChainAccess,
    *,
    org_id: int | None,
    new_org: dict[str, str] | None,
    custom_id: str,
    group_path: str | None,
    contacts: list[NewContact],
) -> tuple[MemberView, list[AddedContact]]:
    """Add a partner org (new or existing) with its contacts; custom_id unique per chain."""
    access.require_owner_admin()
    _check_member_fields(custom_id, new_org, contacts)
    if (org_id is None) == (new_org is None):
        raise Invalid("Give either org or org_id.", {"org": ["Give exactly one of org, org_id."]})
    _check_unique_emails(contacts, "contacts")
    chain = access.chain
    lock_chain(session, chain)
    if org_id is not None:
        org = session.get(Org, org_id)
        if org is None:
            raise Invalid("Unknown org.", {"org_id": ["No org with this id."]})
    else:
        assert new_org is not None
        org = Org(name=new_org["name"], kind=new_org["kind"])
        session.add(org)
        session.flush()
    _check_custom_id_free(session, chain.id, custom_id, org.id)
    group = None
    if group_path:
        group, _ = ensure_group(session, chain.id, normalise_group_path(group_path, "group"))
    member = session.scalar(
        select(Member).where(Member.chain_id == chain.id, Member.org_id == org.id)
    )
    if member is not None and member.removed_at is None:
        raise Conflict(
            "This org is a member of the chain already.", {"org_id": ["Already a member."]}
        )
    if member is None:
        member = Member(chain_id=chain.id, org_id=org.id)
        session.add(member)
    member.removed_at = None
    member.joined_at = utcnow()
    member.custom_id = custom_id
    member.group_id = group.id if group else None
    session.flush()
    may_issue = org_id is None or org.id not in orgs_shared_beyond(
        session, [org.id], chain.owner_org_id
    )
    added = [
        _attach_contact(
            session, chain.id, org.id, spec, f"contacts.{i}", may_issue=may_issue, relist=True
        )
        for i, spec in enumerate(contacts)
    ]
    _bump_graph(session, chain)
    session.refresh(member)
    record_event(
        session,
        access.actor,
        "member.add",
        "org",
        org.id,
        chain_id=chain.id,
        data={
            "custom_id": custom_id,
            "group": group.path if group else None,
            "contacts": [a.contact.user_id for a in added],
        },
    )
    # A new or re-added member has no links yet (removal deletes them): no graph rebuild needed.
    return MemberView(member=member, tier=chain_graphs.UNLINKED, contacts=added), added


def _check_member_fields(
    custom_id: str, new_org: dict[str, str] | None, contacts: list[NewContact]
) -> None:
    """The rules the API schemas check, enforced here too for every other caller (imports, seeds)."""
    errors: dict[str, Any] = {}
    if not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        errors["custom_id"] = [f"1 to {MAX_CUSTOM_ID} characters."]
    if new_org is not None and new_org.get("kind") not in ORG_KINDS:
        errors["org"] = {"kind": [f"One of: {', '.join(ORG_KINDS)}."]}
    for i, spec in enumerate(contacts):
        if spec.role not in USER_ROLES:
            errors.setdefault("contacts", {})[str(i)] = {"role": ["admin or staff."]}
    if errors:
        raise Invalid("Invalid member.", errors)


def _check_unique_emails(contacts: list[NewContact], field_name: str) -> None:
    seen: set[str] = set()
    for i, spec in enumerate(contacts):
        email = normalise_email(spec.email)
        if email in seen:
            raise Invalid(
                "Duplicate email.", {field_name: {str(i): {"email": ["Duplicate email."]}}}
            )
        seen.add(email)


SHARED_ORG = (
    "This org also belongs to another owner's chain (or owns one): only its own admins may add "
    "its people or give them invitation codes."
)


def orgs_shared_beyond(session: Session, org_ids: list[int], owner_org_id: int) -> set[int]:
    """The orgs among `org_ids` that own a chain or belong (now or before) to a chain of another
    owner. Orgs and people are global: an owner may create people, hand out invitation codes or
    rename only in orgs that are its own partners alone, or one owner could take over another's
    supplier account."""
    if not org_ids:
        return set()
    ids = sorted(set(org_ids) - {owner_org_id})
    elsewhere = (
        select(Member.org_id)
        .join(Chain, Chain.id == Member.chain_id)
        .where(Member.org_id.in_(ids), Chain.owner_org_id != owner_org_id)
    )
    owners = select(Chain.owner_org_id).where(Chain.owner_org_id.in_(ids))
    return set(session.scalars(elsewhere.union(owners)))


def _attach_contact(
    session: Session,
    chain_id: int,
    org_id: int,
    spec: NewContact,
    field_name: str,
    *,
    may_issue: bool,
    relist: bool = False,
) -> AddedContact:
    """List a person as a contact of `org_id` in the chain, creating the user if new.

    `may_issue`: whether the caller may create this org's people and invitation codes (see
    orgs_shared_beyond). `relist`: an existing listing (a re-added member's) is kept, not a 409.
    """
    user = find_user_by_email(session, spec.email)
    code = None
    if user is None and not may_issue:
        raise Forbidden(SHARED_ORG, {field_name: {"email": ["Ask the org's own admins."]}})
    if user is None:
        user = User(
            org_id=org_id,
            email=normalise_email(spec.email),
            name=spec.name,
            mobile=spec.mobile,
            title=spec.title,
            role=spec.role,
        )
        code = assign_invite_code(user)
        session.add(user)
        session.flush()
    elif user.org_id != org_id:
        raise Conflict(
            "This email belongs to a person of another org.",
            {field_name: {"email": ["Belongs to another org."]}},
        )
    else:
        exists = session.scalar(
            select(Contact).where(Contact.chain_id == chain_id, Contact.user_id == user.id)
        )
        if exists is not None and relist:
            return AddedContact(contact=exists, invite_code=None)
        if exists is not None:
            raise Conflict(
                "This person is a contact already.", {field_name: {"email": ["Already a contact."]}}
            )
        if user.password_hash is None and may_issue:
            code = assign_invite_code(user)
    contact = Contact(chain_id=chain_id, org_id=org_id, user_id=user.id)
    session.add(contact)
    session.flush()
    return AddedContact(contact=contact, invite_code=code)


def members_page(
    session: Session,
    access: ChainAccess,
    *,
    tier: str | None,
    group: str | None,
    kind: str | None,
    q: str | None,
    page: int,
    page_size: int,
) -> Page:
    """Members the caller may see, filtered; tiers come from the cached graph (no rebuild)."""
    stmt = _member_base(access)
    clause = visible_members_clause(session, access)
    if clause is not None:
        stmt = stmt.where(clause)
    if group:
        stmt = stmt.where(paths_within(Group.path, [normalise_group_path(group, "group")]))
    if kind:
        stmt = stmt.where(Org.kind == kind)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(
            or_(Org.name.ilike(pattern, escape="\\"), Member.custom_id.ilike(pattern, escape="\\"))
        )
    stmt = stmt.order_by(Org.name, Member.org_id)
    graph = chain_graph(session, access.chain)
    if tier is None:
        result = paginate(session, stmt, page, page_size)
    else:
        # Filter on the cached tier index: one light query for candidate ids, one for the page.
        in_tier = graph.orgs_in_tier(tier)
        ids = [
            org_id
            for org_id in session.scalars(stmt.with_only_columns(Member.org_id))
            if org_id in in_tier
        ]
        wanted = ids[(page - 1) * page_size : page * page_size]
        rows = (
            {
                m.org_id: m
                for m in session.scalars(_member_base(access).where(Member.org_id.in_(wanted)))
            }
            if wanted
            else {}
        )
        result = Page(
            items=[rows[i] for i in wanted], total=len(ids), page=page, page_size=page_size
        )
    result.items = [MemberView(member=m, tier=graph.tier_of(m.org_id)) for m in result.items]
    return result


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def member_detail(session: Session, access: ChainAccess, org_id: int | None) -> MemberView:
    """One visible member with its tier and contacts."""
    member = require_member(session, access, org_id)
    contacts = session.scalars(
        select(Contact)
        .where(Contact.chain_id == access.chain_id, Contact.org_id == member.org_id)
        .order_by(Contact.id)
    ).all()
    tier = chain_graph(session, access.chain).tier_of(member.org_id)
    return MemberView(member=member, tier=tier, contacts=list(contacts))


def update_member(
    session: Session,
    access: ChainAccess,
    org_id: int | None,
    *,
    group_path: str | None,
    custom_id: str | None,
    clear_group: bool = False,
) -> MemberView:
    """Move a member to another group or give it a new custom id; owner admins only."""
    access.require_owner_admin()
    member = require_member(session, access, org_id)
    lock_chain(session, access.chain)
    changes: dict[str, Any] = {}
    if custom_id is not None and not 0 < len(custom_id) <= MAX_CUSTOM_ID:
        raise Invalid("Invalid custom id.", {"custom_id": [f"1 to {MAX_CUSTOM_ID} characters."]})
    if custom_id is not None and custom_id != member.custom_id:
        _check_custom_id_free(session, access.chain_id, custom_id, member.org_id)
        changes["custom_id"] = {"from": member.custom_id, "to": custom_id}
        member.custom_id = custom_id
    if group_path is not None or clear_group:
        group = None
        if group_path is not None:
            group, _ = ensure_group(
                session, access.chain_id, normalise_group_path(group_path, "group")
            )
        old = member.group.path if member.group else None
        if (group.path if group else None) != old:
            changes["group"] = {"from": old, "to": group.path if group else None}
            member.group_id = group.id if group else None
    session.flush()
    if changes:
        # Tiers do not depend on groups or codes, so the cached graph stays valid; group-scoped
        # rules and grants are evaluated per request and follow the move at once.
        record_event(
            session,
            access.actor,
            "member.update",
            "org",
            member.org_id,
            chain_id=access.chain_id,
            data=changes,
        )
    session.refresh(member)
    return member_detail(session, access, member.org_id)


def remove_member(session: Session, access: ChainAccess, org_id: int | None) -> None:
    """Remove a partner: its access ends at once and its links go; its history stays."""
    access.require_owner_admin()
    member = require_member(session, access, org_id)
    if member.org_id == access.chain.owner_org_id:
        raise Conflict("The chain owner cannot be removed.")
    lock_chain(session, access.chain)
    link_ids = list(
        session.scalars(
            select(Link.id).where(
                Link.chain_id == access.chain_id,
                or_(Link.supplier_id == member.org_id, Link.customer_id == member.org_id),
            )
        )
    )
    if link_ids:
        session.execute(delete(Link).where(Link.id.in_(link_ids)))
    member.removed_at = utcnow()
    session.flush()
    _bump_graph(session, access.chain)
    record_event(
        session,
        access.actor,
        "member.remove",
        "org",
        member.org_id,
        chain_id=access.chain_id,
        data={"links_removed": [str(i) for i in link_ids]},
    )


# --- contacts ---------------------------------------------------------------------------------


def add_contact(
    session: Session, access: ChainAccess, org_id: int | None, spec: NewContact
) -> AddedContact:
    """Add a person to a member org's contacts: owner admins, or that org's own admins."""
    member = require_member(session, access, org_id)
    own_org_admin = access.actor.org_id == member.org_id and access.actor.is_admin
    if not (own_org_admin or (access.is_owner and access.actor.is_admin)):
        raise Forbidden("Only the chain owner's admins or this org's admins may add contacts.")
    may_issue = own_org_admin or member.org_id not in orgs_shared_beyond(
        session, [member.org_id], access.chain.owner_org_id
    )
    added = _attach_contact(
        session, access.chain_id, member.org_id, spec, "json", may_issue=may_issue
    )
    record_event(
        session,
        access.actor,
        "contact.add",
        "user",
        added.contact.user_id,
        chain_id=access.chain_id,
        data={"org_id": str(member.org_id)},
    )
    return added


def contacts_page(
    session: Session,
    access: ChainAccess,
    *,
    org_id: int | None,
    q: str | None,
    page: int,
    page_size: int,
    filter_org: bool,
) -> Page:
    """Contacts of current members that the caller may see, optionally of one org or matching q."""
    stmt = (
        select(Contact)
        .join(User, User.id == Contact.user_id)
        .join(
            Member,
            (Member.chain_id == Contact.chain_id)
            & (Member.org_id == Contact.org_id)
            & Member.removed_at.is_(None),
        )
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Contact.chain_id == access.chain_id)
    )
    clause = visible_members_clause(session, access)
    if clause is not None:
        stmt = stmt.where(clause)
    if filter_org:
        stmt = stmt.where(Contact.org_id == (org_id or 0))
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(
            or_(User.name.ilike(pattern, escape="\\"), User.email.ilike(pattern, escape="\\"))
        )
    return paginate(session, stmt.order_by(Contact.org_id, User.name, Contact.id), page, page_size)


# --- links ------------------------------------------------------------------------------------


def create_link(session: Session, access: ChainAccess, supplier_id: int, customer_id: int) -> Link:
    """Add a supply edge between two members; 409 for a duplicate or a cycle."""
    access.require_owner_admin()
    chain = access.chain
    lock_chain(session, chain)
    errors: dict[str, list[str]] = {}
    if _active_member(session, chain.id, supplier_id) is None:
        errors["supplier_id"] = ["Not a member of this chain."]
    if _active_member(session, chain.id, customer_id) is None:
        errors["customer_id"] = ["Not a member of this chain."]
    if errors:
        raise Invalid("Both ends of a link must be members.", errors)
    if supplier_id == customer_id:
        raise Conflict("An org cannot supply itself.", {"customer_id": ["Same as supplier_id."]})
    exists = session.scalar(
        select(Link.id).where(
            Link.chain_id == chain.id,
            Link.supplier_id == supplier_id,
            Link.customer_id == customer_id,
        )
    )
    if exists:
        raise Conflict("This link exists already.")
    if chain_graphs.creates_cycle(chain_graph(session, chain), supplier_id, customer_id):
        raise Conflict("This link would create a cycle in the supply graph.")
    link = Link(chain_id=chain.id, supplier_id=supplier_id, customer_id=customer_id)
    session.add(link)
    session.flush()
    _bump_graph(session, chain)
    record_event(
        session,
        access.actor,
        "link.create",
        "link",
        link.id,
        chain_id=chain.id,
        data={"supplier_id": str(supplier_id), "customer_id": str(customer_id)},
    )
    return link


def delete_link(session: Session, access: ChainAccess, link_id: int | None) -> None:
    """Remove a supply edge; owner admins only."""
    access.require_owner_admin()
    link = session.get(Link, link_id) if link_id else None
    if link is None or link.chain_id != access.chain_id:
        raise NotFound("No such link.")
    lock_chain(session, access.chain)
    session.delete(link)
    session.flush()
    _bump_graph(session, access.chain)
    record_event(
        session,
        access.actor,
        "link.delete",
        "link",
        link_id,
        chain_id=access.chain_id,
        data={"supplier_id": str(link.supplier_id), "customer_id": str(link.customer_id)},
    )


def links_query(access: ChainAccess) -> Select:
    """Links the caller may see: all for the owner, the ones touching its own org for a partner."""
    stmt = select(Link).where(Link.chain_id == access.chain_id)
    if not access.is_owner:
        org = access.actor.org_id
        stmt = stmt.where(or_(Link.supplier_id == org, Link.customer_id == org))
    return stmt.order_by(Link.id)


# --- graph and impact -------------------------------------------------------------------------


def graph_snapshot(session: Session, access: ChainAccess) -> dict[str, Any]:
    """Nodes with tiers and groups, and links, of the whole chain; the owner's view."""
    access.require_owner()
    graph = chain_graph(session, access.chain)
    rows = session.execute(
        select(Member.org_id, Org.name, Org.kind, Group.path)
        .join(Org, Org.id == Member.org_id)
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Member.chain_id == access.chain_id, Member.removed_at.is_(None))
        .order_by(Member.org_id)
    ).all()
    nodes = [
        {"org_id": org_id, "name": name, "kind": kind, "tier": graph.tier_of(org_id), "group": path}
        for org_id, name, kind, path in rows
    ]
    links = session.execute(
        select(Link.id, Link.supplier_id, Link.customer_id)
        .where(Link.chain_id == access.chain_id)
        .order_by(Link.id)
    ).all()
    return {
        "nodes": nodes,
        "links": [{"id": i, "supplier_id": s, "customer_id": c} for i, s, c in links],
    }


def graph_svg(snapshot: dict[str, Any]) -> str:
    """The snapshot drawn as SVG, one column per tier."""
    return chain_graphs.render_svg(
        snapshot["nodes"],
        [(link["supplier_id"], link["customer_id"]) for link in snapshot["links"]],
    )


def member_impact(session: Session, access: ChainAccess, org_id: int | None) -> dict[str, Any]:
    """If this org stops: every org downstream (affected) and those with no other supply (cut off)."""
    access.require_owner()
    member = require_member(session, access, org_id)
    graph = chain_graph(session, access.chain)
    affected, cut_off = chain_graphs.impact(graph, member.org_id)
    return {
        "org_id": member.org_id,
        "affected": [{"org_id": o, "tier": graph.tier_of(o)} for o in affected],
        "cut_off": [{"org_id": o, "tier": graph.tier_of(o)} for o in cut_off],
    }


# --- visibility rules -------------------------------------------------------------------------


def _resolve_selector(
    session: Session, chain_id: int, selector: dict[str, list], field_name: str
) -> dict[str, list]:
    errors: dict[str, Any] = {}
    paths = []
    for i, raw in enumerate(selector.get("groups", [])):
        try:
            path = normalise_group_path(raw, "path")
        except Invalid:
            errors.setdefault("groups", {})[str(i)] = ["Invalid group path."]
            continue
        if find_group(session, chain_id, path) is None:
            errors.setdefault("groups", {})[str(i)] = [f"Unknown group: {path}"]
        paths.append(path)
    orgs = sorted(set(selector.get("orgs", [])))
    known = (
        set(
            session.scalars(
                select(Member.org_id).where(
                    Member.chain_id == chain_id,
                    Member.org_id.in_(orgs),
                    Member.removed_at.is_(None),
                )
            )
        )
        if orgs
        else set()
    )
    unknown = [str(o) for o in orgs if o not in known]
    if unknown:
        errors["orgs"] = [f"Not members of this chain: {', '.join(unknown)}"]
    if errors:
        raise Invalid("Unknown groups or orgs in the rule.", {field_name: errors})
    if not paths and not orgs:
        raise Invalid("Empty selector.", {field_name: ["Name at least one group or org."]})
    return {"groups": sorted(set(paths)), "orgs": orgs}


def create_rule(
    session: Session, access: ChainAccess, viewers: dict[str, list], visible: dict[str, list]
) -> VisibilityRule:
    """Let members matched by `viewers` see members and contacts matched by `visible`."""
    access.require_owner_admin()
    rule = VisibilityRule(
        chain_id=access.chain_id,
        viewers=_resolve_selector(session, access.chain_id, viewers, "viewers"),
        visible=_resolve_selector(session, access.chain_id, visible, "visible"),
    )
    session.add(rule)
    session.flush()
    record_event(
        session,
        access.actor,
        "rule.create",
        "rule",
        rule.id,
        chain_id=access.chain_id,
        data={"viewers": _jsonable(rule.viewers), "visible": _jsonable(rule.visible)},
    )
    return rule


def _jsonable(selector: dict[str, list]) -> dict[str, list]:
    return {"groups": selector["groups"], "orgs": [str(o) for o in selector["orgs"]]}


def rules_query(access: ChainAccess) -> Select:
    """The chain's visibility rules; owner admins only."""
    access.require_owner_admin()
    return (
        select(VisibilityRule)
        .where(VisibilityRule.chain_id == access.chain_id)
        .order_by(VisibilityRule.id)
    )


def get_rule(session: Session, access: ChainAccess, rule_id: int | None) -> VisibilityRule:
    """One rule of the chain, or 404."""
    access.require_owner_admin()
    rule = session.get(VisibilityRule, rule_id) if rule_id else None
    if rule is None or rule.chain_id != access.chain_id:
        raise NotFound("No such rule.")
    return rule


def delete_rule(session: Session, access: ChainAccess, rule_id: int | None) -> None:
    """Remove a visibility rule; what it showed is hidden on the next request."""
    rule = get_rule(session, access, rule_id)
    session.delete(rule)
    record_event(session, access.actor, "rule.delete", "rule", rule.id, chain_id=access.chain_id)


def tier_of_member(session: Session, chain: Chain, org_id: int) -> str:
    """The computed tier of one org in the chain."""
    return chain_graph(session, chain).tier_of(org_id)


def org_kinds() -> tuple[str, ...]:
    """The org kinds API.md allows."""
    return ORG_KINDS
