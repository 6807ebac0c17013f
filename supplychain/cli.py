"""The `supplychain` command: database, server, bootstrap and demo data."""

from __future__ import annotations

import json
import os
import sys

import click

from supplychain.config import Config


def _app():
    from supplychain.app import create_app

    return create_app(Config())


@click.group()
def main() -> None:
    """supplychain: upstream/downstream collaboration service."""


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (idempotent)."""
    from supplychain.migrate import upgrade_database

    url = Config().SQLALCHEMY_DATABASE_URI
    _app()  # creates the SQLite folder if needed
    upgrade_database(url, revision)
    click.echo(f"database at {revision}", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", default=lambda: int(os.environ.get("PORT", "8000")), show_default="8000 or $PORT"
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler in this process.")
@click.option("--no-worker", is_flag=True, help="Do not start a delivery worker beside the server.")
def serve(
    host: str, port: int, workers: int, threads: int, no_scheduler: bool, no_worker: bool
) -> None:
    """Serve HTTP with gunicorn; the scheduler runs once, in the master, unless --no-scheduler;
    one delivery worker process runs beside it unless --no-worker."""
    from supplychain.server import run_server

    # The port served is $PORT for the settings (and the worker beside): without
    # SUPPLYCHAIN_BASE_URL, the issuer and mail links are http://localhost:<port>.
    os.environ["PORT"] = str(port)
    run_server(
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        scheduler=not no_scheduler,
        worker=not no_worker,
    )


def _as_contact(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An option checked as the API checks a contact's field of that name (the same
    marshmallow field): an email with a line break, say, is refused here as there."""
    from marshmallow import ValidationError

    from supplychain.schemas.directory import ContactCreateSchema

    try:
        return str(ContactCreateSchema().fields[str(param.name)].deserialize(value))
    except ValidationError as exc:
        raise click.BadParameter(" ".join(map(str, exc.messages))) from None


@main.command()
@click.option("--org-name", required=True)
@click.option("--kind", default="manufacturer", show_default=True)
@click.option("--email", required=True, callback=_as_contact)
@click.option("--name", required=True, callback=_as_contact)
@click.option("--password", required=True)
def bootstrap(org_name: str, kind: str, email: str, name: str, password: str) -> None:
    """Create an org and its first admin; print {org_id, user_id, token} as JSON."""
    from supplychain.errors import DomainError
    from supplychain.extensions import db as database
    from supplychain.services.accounts import bootstrap_admin

    app = _app()
    with app.app_context():
        try:
            issued = bootstrap_admin(database.session, org_name, kind, email, name, password)
            database.session.commit()
        except DomainError as exc:
            database.session.rollback()
            click.echo(json.dumps({"error": exc.message, "errors": exc.errors}), err=True)
            sys.exit(1)
        click.echo(
            json.dumps(
                {
                    "org_id": str(issued.user.org_id),
                    "user_id": str(issued.user.id),
                    "token": issued.secret,
                }
            )
        )


@main.command("seed-demo")
@click.option("--file", "path", default=None, help="Seed file (default: seeds/demo.json).")
def seed_demo(path: str | None) -> None:
    """Load the demo network and its activity from seeds/ (idempotent); print the demo logins."""
    from supplychain.demo.seeding import (
        DEFAULT_SEED,
        answer_demo_statements,
        load_demo,
        produce_demo_runs,
    )
    from supplychain.errors import DomainError
    from supplychain.extensions import db as database

    app = _app()
    with app.app_context():
        try:
            logins = load_demo(database.session, path or DEFAULT_SEED)
            database.session.commit()
        except DomainError as exc:
            database.session.rollback()
            click.echo(json.dumps({"error": exc.message, "errors": exc.errors}), err=True)
            sys.exit(1)
        # Last month's workbook, after the commit: a run commits in its own sessions.
        runs = produce_demo_runs(database.engine, app.config["REPORTS_DIR"], path or DEFAULT_SEED)
        for run in runs:
            if run.status == "failed":
                click.echo(f"demo reconciliation {run.tier} {run.period}: {run.error}", err=True)
                sys.exit(2)
        # The partners' answers to the statements the run made ready (given once).
        try:
            answer_demo_statements(database.session, path or DEFAULT_SEED)
            database.session.commit()
        except DomainError as exc:
            database.session.rollback()
            click.echo(json.dumps({"error": exc.message, "errors": exc.errors}), err=True)
            sys.exit(1)
    click.echo("Demo logins:")
    for login in logins:
        click.echo(f"  {login['role']:<28} {login['email']:<36} password: {login['password']}")


@main.command()
@click.argument("chain_id")
@click.option("--tier", required=True, help="U1, U2... or D1, D2...")
@click.option("--period", required=True, help="YYYY-MM or YYYY-Www")
@click.option("--force", is_flag=True, help="Make a new revision even if one exists.")
def reconcile(chain_id: str, tier: str, period: str, force: bool) -> None:
    """One reconciliation run now (no duplicate without --force); print the run as JSON."""
    from supplychain.errors import DomainError
    from supplychain.extensions import db as database
    from supplychain.schemas.common import parse_id
    from supplychain.schemas.reconciliation import RunSchema
    from supplychain.services.reconciliation.runs import execute_run

    app = _app()
    with app.app_context():
        cid = parse_id(chain_id)
        try:
            run, created = execute_run(
                database.engine,
                app.config["REPORTS_DIR"],
                cid,
                tier,
                period,
                force=force,
                trigger="cli",
            )
        except DomainError as exc:
            click.echo(json.dumps({"error": exc.message, "errors": exc.errors}), err=True)
            sys.exit(1)
        body = RunSchema().dump(run)
        body["created"] = created
        click.echo(json.dumps(body))
        if run.status == "failed":
            sys.exit(2)


@main.command()
def scheduler() -> None:
    """Run the reconciliation scheduler as its own process (no web server)."""
    import signal
    import threading

    from supplychain.scheduler import start_scheduler, stop_scheduler

    app = _app()
    sched = start_scheduler(app)
    click.echo(f"scheduler running with {len(sched.get_jobs())} jobs; Ctrl-C to stop", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stop_scheduler(sched)


@main.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--parent-pid", type=int, default=None, hidden=True)
def worker(once: bool, parent_pid: int | None) -> None:
    """Deliver events (webhooks, email) until SIGTERM or Ctrl-C; run as many as you like."""
    import logging
    import signal
    import threading

    from supplychain.outbound.worker import Worker, lower_priority

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = _app()
    lower_priority(app)
    delivery_worker = Worker(app)
    if once:
        try:
            while delivery_worker.run_once():
                pass
        finally:
            delivery_worker.close()
        click.echo(
            f"delivery worker {delivery_worker.name}: {delivery_worker.handled} handled", err=True
        )
        return
    stop = threading.Event()
    # Graceful: the batch in hand is sent and recorded, then the loop ends.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(f"delivery worker {delivery_worker.name} running; Ctrl-C to stop", err=True)
    delivery_worker.run(stop, parent_pid=parent_pid)


@main.group()
def oidc() -> None:
    """The OpenID Connect provider's signing keys and housekeeping."""


@oidc.command("rotate-key")
def oidc_rotate_key() -> None:
    """Make a new signing key; the old ones keep verifying (in the JWKS) for two days, then are
    retired by a later rotation."""
    from supplychain.extensions import db as database
    from supplychain.identity import keys

    app = _app()
    with app.app_context():
        try:
            kid, retired = keys.rotate(database.session)
            database.session.commit()
        finally:
            database.session.remove()
            database.engine.dispose()
    click.echo(f"signing key {kid}" + (f"; retired {', '.join(retired)}" if retired else ""))


@oidc.command("purge")
def oidc_purge() -> None:
    """Delete expired and used authorization codes, token families dead for a day and app
    sessions ended 30 days ago (the scheduler does it every hour); what reuse detection needs
    stays."""
    from supplychain.extensions import db as database
    from supplychain.identity.purge import purge
    from supplychain.models.base import utcnow

    app = _app()
    with app.app_context():
        try:
            purged = purge(database.session, utcnow())
            database.session.commit()
        finally:
            database.session.remove()
            database.engine.dispose()
    click.echo(
        f"deleted {purged.codes} codes, {purged.tokens} tokens and {purged.sessions} sessions"
    )


if __name__ == "__main__":
    main()
