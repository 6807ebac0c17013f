"""Apache httpd with mod_auth_openidc as a real relying party: its own `-f` configuration on a
free 127.0.0.1 port, protecting `/app/` (a server-side include page that shows the claims
mod_auth_openidc passes), with the back-channel logout endpoint at the redirect URI."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

APACHE = os.environ.get("APACHE", "/usr/sbin/apache2")
MODULES = Path(os.environ.get("APACHE_MODULES", "/usr/lib/apache2/modules"))
NEEDED = ("mod_auth_openidc.so", "mod_include.so", "mod_mpm_event.so", "mod_dir.so")
CLAIMS = (
    "sub", "sid", "name", "email", "org_id", "org_name", "tier", "org_role", "chain_id", "auth_time"
)  # fmt: skip
PAGE = (
    "<html><body><h1>Dealer portal</h1><dl>\n"
    + "".join(f'<dt>{c}</dt><dd id="{c}"><!--#echo var="OIDC_CLAIM_{c}" --></dd>\n' for c in CLAIMS)
    + "</dl></body></html>\n"
)


def available() -> str | None:
    """Why Apache cannot run here, or None."""
    if not Path(APACHE).exists():
        return f"{APACHE} is not installed"
    missing = [m for m in NEEDED if not (MODULES / m).exists()]
    return f"missing Apache modules: {', '.join(missing)}" if missing else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Apache:
    """One Apache process; `configure` (re)starts it as the client of an OpenID provider."""

    root: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return self.base + "/app/redirect_uri"

    @property
    def logout_uri(self) -> str:
        return self.redirect_uri + "?logout=backchannel"

    def _config(self, issuer: str, client_id: str, client_secret: str, extra: str) -> str:
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        return f"""ServerRoot "{self.root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile "{self.root}/httpd.pid"
ErrorLog "{self.root}/error.log"
LogLevel warn auth_openidc:info
{user}LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule include_module {MODULES}/mod_include.so
LoadModule dir_module {MODULES}/mod_dir.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
DocumentRoot "{self.root}/htdocs"
DirectoryIndex index.html
OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI {self.redirect_uri}
OIDCCryptoPassphrase test-passphrase-not-secret
OIDCScope "openid profile email chain"
OIDCPKCEMethod S256
OIDCPassClaimsAs environment
OIDCRemoteUserClaim sub
OIDCSessionType server-cache
OIDCCacheType shm
OIDCProviderMetadataRefreshInterval 0
{extra}
<Directory "{self.root}/htdocs">
  Require all granted
</Directory>
<Location /app/>
  AuthType openid-connect
  Require valid-user
  Options +Includes
  SetOutputFilter INCLUDES
</Location>
"""

    def configure(self, issuer: str, client_id: str, client_secret: str, extra: str = "") -> None:
        """Start (or restart) Apache as this client (`extra`: more directives) and wait until it
        answers."""
        self.stop()
        config = self._config(issuer, client_id, client_secret, extra)
        (self.root / "httpd.conf").write_text(config)
        log = self.root / "error.log"
        if log.exists():
            log.unlink()
        with (self.root / "stderr.log").open("wb") as stderr:
            self.process = subprocess.Popen(
                [APACHE, "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"},
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.root / "stderr.log").read_text(errors="replace")
                raise RuntimeError(f"apache2 exited: {err}\n{self.errors()}")
            try:
                requests.get(self.base + "/health.html", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("apache2 did not start: " + self.errors())

    def errors(self) -> str:
        log = self.root / "error.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def make_apache(root: Path) -> Apache:
    """An Apache home in `root` (a fresh directory readable by the user Apache's children run
    as: www-data when the tests run as root)."""
    (root / "htdocs" / "app").mkdir(parents=True)
    (root / "htdocs" / "app" / "index.html").write_text(PAGE)
    (root / "htdocs" / "health.html").write_text("ok\n")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return Apache(root=root, port=free_port())


def cleanup(apache: Apache) -> None:
    apache.stop()
    shutil.rmtree(apache.root, ignore_errors=True)
