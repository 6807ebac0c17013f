"""Settings from the environment: one class, and a TestConfig beside it."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


def _default_database_url() -> str:
    instance = ROOT / "instance"
    return f"sqlite:///{instance / 'supplychain.sqlite3'}"


def normalise_database_url(url: str) -> str:
    """Map plain postgres URLs onto the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _secure_cookie_setting(value: str) -> bool | str:
    """`SUPPLYCHAIN_COOKIE_SECURE`: 1/true/yes, 0/false/no, or auto (anything else)."""
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return "auto"


def _count_setting(name: str, default: int, minimum: int) -> int:
    """A whole-number setting from the environment; a bad value stops the start with its name."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, not {raw!r}")
    return int(raw)


def _base_url() -> str:
    """SUPPLYCHAIN_BASE_URL (the OIDC issuer, links in mail); unset, the local server on $PORT
    (the port `serve` listens on), else 8000."""
    configured = os.environ.get("SUPPLYCHAIN_BASE_URL", "").strip()
    if configured:
        return configured.rstrip("/")
    port = _count_setting("PORT", 8000, 1)
    if port > 65535:
        raise ValueError(f"PORT must be a port number (1 to 65535), not {port}")
    return f"http://localhost:{port}"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server, from `SUPPLYCHAIN_SMTP_URL`."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpSettings:
    """`smtp://[user:pass@]host:port`, `smtp+starttls://...` or `smtps://...`; a bad URL stops
    the start with the setting's name (user and password may be %-encoded)."""
    parts = urlsplit(url)
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
        raise ValueError(
            "SUPPLYCHAIN_SMTP_URL must look like smtp://[user:pass@]host:port"
            " (or smtp+starttls://, smtps://)"
        )
    try:
        port = parts.port or SMTP_SCHEMES[parts.scheme]
    except ValueError:
        raise ValueError("SUPPLYCHAIN_SMTP_URL has a bad port")
    return SmtpSettings(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def smtp_tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The TLS context for the SMTP server: certificate and host name verified, against
    `ca_file`'s certificates when given, else the system's."""
    return ssl.create_default_context(cafile=ca_file or None)


def _smtp_ca_file(path: str) -> str | None:
    """`SUPPLYCHAIN_SMTP_CA_FILE` checked at the start: a file of PEM certificates, or unset."""
    if not path:
        return None
    try:
        smtp_tls_context(path)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"SUPPLYCHAIN_SMTP_CA_FILE must be a file of PEM certificates: {path!r} ({exc})"
        ) from exc
    return path


DEFAULT_RETRY_SCHEDULE = (10, 60, 300, 1800, 7200, 28800, 86400)  # API.md: 10 s ... 24 h


def _schedule_setting(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Comma-separated whole seconds (`10,60,300`); a bad value stops the start with its name."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    parts = [part.strip() for part in raw.split(",")]
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(f"{name} must be comma-separated whole seconds, not {raw!r}")
    return tuple(int(part) for part in parts)


def _flag_setting(name: str) -> bool:
    """An on/off setting: 1/true/yes/on is on, anything else off."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Config:
    """Runtime settings; every value can be set by the environment variable of the same name."""

    def __init__(self) -> None:
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("DATABASE_URL") or _default_database_url()
        )
        self.REPORTS_DIR = os.environ.get("SUPPLYCHAIN_REPORTS_DIR") or str(ROOT / "reports")
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-secret-change-me"
        # "master": `serve` runs this deployment's scheduler in its master process.
        self.SCHEDULER_MODE = os.environ.get("SUPPLYCHAIN_SCHEDULER", "external")
        self.TESTING = False
        self.SQLALCHEMY_ENGINE_OPTIONS: dict = {}
        self.MAX_CONTENT_LENGTH = 20 * 1024 * 1024
        self.API_TITLE = "supplychain"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.JSON_SORT_KEYS = False
        # The pages' session cookie: never readable by scripts, not sent on cross-site posts.
        # SESSION_COOKIE_SECURE: "1" always Secure, "0" never, "auto" (default) Secure whenever
        # the request came over HTTPS (directly or as X-Forwarded-Proto from a trusted TLS proxy).
        self.SESSION_COOKIE_NAME = "supplychain_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _secure_cookie_setting(
            os.environ.get("SUPPLYCHAIN_COOKIE_SECURE", "auto")
        )
        # Sign-in tokens (API and pages) expire after this many days without use.
        self.SESSION_DAYS = _count_setting("SUPPLYCHAIN_SESSION_DAYS", 30, 1)
        # Invitation codes stop working this many days after they were issued.
        self.INVITE_DAYS = _count_setting("SUPPLYCHAIN_INVITE_DAYS", 14, 1)
        # Proxies in front of the app whose X-Forwarded-For/-Proto are believed (0: none).
        self.TRUSTED_PROXIES = _count_setting("SUPPLYCHAIN_TRUSTED_PROXIES", 0, 0)
        # Mail: SMTP when SUPPLYCHAIN_SMTP_URL is set (smtp://, smtp+starttls://, smtps://),
        # else one .eml file per message under MAIL_DIR. Links in mail are built on BASE_URL.
        self.SMTP_URL = os.environ.get("SUPPLYCHAIN_SMTP_URL", "").strip()
        if self.SMTP_URL:
            parse_smtp_url(self.SMTP_URL)  # a bad URL stops the start, not the first mail
        self.SMTP_TIMEOUT = _count_setting("SUPPLYCHAIN_SMTP_TIMEOUT", 30, 1)
        # PEM certificates trusted for the SMTP server's TLS instead of the system's (a private
        # CA, a self-signed server); the server's name is checked against its certificate.
        self.SMTP_CA_FILE = _smtp_ca_file(os.environ.get("SUPPLYCHAIN_SMTP_CA_FILE", "").strip())
        self.MAIL_FROM = os.environ.get("SUPPLYCHAIN_MAIL_FROM") or "supplychain@localhost"
        self.MAIL_DIR = os.environ.get("SUPPLYCHAIN_MAIL_DIR") or str(ROOT / "instance" / "mail")
        self.BASE_URL = _base_url()
        # Webhooks: never to loopback/private/link-local addresses unless allowed (SSRF).
        self.WEBHOOK_ALLOW_PRIVATE = _flag_setting("SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE")
        self.WEBHOOK_RETRY_SCHEDULE = _schedule_setting(
            "SUPPLYCHAIN_WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE
        )
        # One send's whole budget (connect, send, answer), and how many go out at once.
        self.WEBHOOK_TIMEOUT = _count_setting("SUPPLYCHAIN_WEBHOOK_TIMEOUT", 10, 1)
        self.WEBHOOK_CONCURRENCY = _count_setting("SUPPLYCHAIN_WEBHOOK_CONCURRENCY", 8, 1)
        # Delivery workers: deliveries claimed at once, how long a claim holds, idle polling.
        self.WORKER_BATCH = _count_setting("SUPPLYCHAIN_WORKER_BATCH", 32, 1)
        self.WORKER_LEASE_SECONDS = _count_setting("SUPPLYCHAIN_WORKER_LEASE_SECONDS", 60, 1)
        self.WORKER_POLL_SECONDS = _count_setting("SUPPLYCHAIN_WORKER_POLL_SECONDS", 1, 1)
        # A worker process's nice value: background sending yields the CPU to the web and the DB.
        self.WORKER_NICE = _count_setting("SUPPLYCHAIN_WORKER_NICE", 10, 0)


class TestConfig(Config):
    """Settings for the test suite: no scheduler unless a test starts one."""

    def __init__(self, database_url: str | None = None, reports_dir: str | None = None) -> None:
        super().__init__()
        if database_url:
            self.SQLALCHEMY_DATABASE_URI = normalise_database_url(database_url)
        if reports_dir:
            self.REPORTS_DIR = reports_dir
        self.TESTING = True
        # Unexpected errors go through the JSON 500 handler (and the log), as in production.
        self.PROPAGATE_EXCEPTIONS = False
        self.SCHEDULER_MODE = "external"
        self.SECRET_KEY = "test-secret"
        # Still scrypt, at a cost that keeps hundreds of sign-ups in the suite fast.
        self.PASSWORD_HASH_METHOD = "scrypt:4096:8:1"
        # Tests talk plain HTTP on the loopback: the cookie must come back without TLS.
        self.SESSION_COOKIE_SECURE = False
