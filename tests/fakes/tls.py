"""A throw-away certificate authority and a server certificate for 127.0.0.1/localhost.

The fake servers in this package speak real TLS, so the real Dropbox SDK (and ``requests``
underneath it) verify a real chain.  Tests hand the CA file to the SDK as ``ca_certs`` and to
subprocesses as ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")


@dataclass
class FakeTLS:
    """A CA whose PEM lives at ``ca_path`` plus a server certificate it signed."""

    ca: trustme.CA
    server_cert: trustme.LeafCert
    ca_path: Path

    def server_context(self) -> ssl.SSLContext:
        """An ``SSLContext`` for the server side, presenting the leaf certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server_cert.configure_cert(ctx)
        return ctx


def make_tls(directory: Path, names: tuple[str, ...] = SERVER_NAMES) -> FakeTLS:
    """Create a CA and a server cert for ``names``; write the CA PEM into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Fake Dropbox Test CA")
    server_cert = ca.issue_cert(*names)
    ca_path = directory / "fake-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return FakeTLS(ca=ca, server_cert=server_cert, ca_path=ca_path)


def write_ca(directory: Path) -> Path:
    """Convenience: create a fresh CA, write its PEM into ``directory``, return the PEM path."""
    return make_tls(directory).ca_path
