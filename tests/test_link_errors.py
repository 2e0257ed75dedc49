"""Link failures a user meets, each one line with the fix: redirect URI, network, TLS, proxy."""

from __future__ import annotations

import select
import socket
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import cli, run
from tests.link_support import code_shown, free_port


def test_a_redirect_uri_dropbox_does_not_match_names_the_uri_to_register(
    fake_dropbox: Any,
) -> None:
    url = run("link", "dropbox", "--print-url").stdout.strip()
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["state"][0]
    code = code_shown(fake_dropbox, url)  # issued for the no-redirect flow
    landed = f"http://localhost:53682/?code={code}&state={state}"
    result = run("link", "dropbox", "--code", landed)
    assert result.exit_code == ExitCode.AUTH
    assert "http://localhost:53682/" in result.stderr
    assert "Redirect URIs" in result.stderr
    assert code not in result.output


def test_network_failure_during_the_code_exchange_is_a_network_error(
    fake_dropbox: Any, monkeypatch: Any
) -> None:
    url = run("link", "dropbox", "--print-url").stdout.strip()
    code = code_shown(fake_dropbox, url)
    import dropbox.dropbox_client
    import dropbox.oauth
    import dropbox.session

    dead = f"127.0.0.1:{free_port()}"
    for module in (dropbox.session, dropbox.oauth, dropbox.dropbox_client):
        if hasattr(module, "API_HOST"):
            monkeypatch.setattr(module, "API_HOST", dead)
    monkeypatch.setattr(dropbox.oauth.DropboxOAuth2FlowBase.build_url, "__defaults__", (None, dead))
    result = run("link", "dropbox", "--code", code)
    assert result.exit_code == ExitCode.NETWORK
    assert "cannot reach Dropbox" in result.stderr
    assert "hint:" in result.stderr


def test_ssl_cert_file_alone_is_trusted(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str]
) -> None:
    make_dropbox_conn(store="file")
    env = {
        k: v for k, v in dropbox_env.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }
    env["SSL_CERT_FILE"] = str(fake_dropbox.ca_path)
    result = cli("status", "--json", env=env)
    assert result.returncode == 0, result.stderr


def test_an_untrusted_certificate_is_a_tls_error_with_the_proxy_hint(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str]
) -> None:
    make_dropbox_conn(store="file")
    env = {
        **dropbox_env,
        "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
        "CURL_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
    }
    result = cli("status", "--json", env=env)
    assert result.returncode != 0
    assert "REQUESTS_CA_BUNDLE" in result.stdout + result.stderr


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that records the tunnels it opened."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.tunnels: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        target = head.split(b" ")[1].decode()
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {client: upstream, upstream: client}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 10)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.sock.close()


def test_https_proxy_is_honoured(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    proxy = ConnectProxy()
    env = {
        **dropbox_env,
        "HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}",
        "NO_PROXY": "",
        "no_proxy": "",
    }
    try:
        result = cli("status", "--json", env=env)
    finally:
        proxy.close()
    assert result.returncode == 0, result.stderr
    assert f"127.0.0.1:{fake_dropbox.port}" in proxy.tunnels
