"""Upload throughput, client CPU and peak RSS through the fake Dropbox over loopback TLS.

A script, not a test:

    uv run python tests/perf/bench_upload.py --size-mib 1024
    uv run python tests/perf/bench_upload.py --size-mib 256 --chunk-mib 8 --latency 0 0.05

It generates one random file (written once to a temp dir), starts the fake Dropbox
in its own process (so its CPU is never counted as the client's), and runs, each
in a fresh child process measured with os.wait4 (CPU = user + system time, peak
RSS = ru_maxrss of that child alone):

* `cli`        this CLI, sequential (`--no-check`: the file is not an archive)
* `cli -p N`   this CLI with `--parallel N`
* `baseline`   tests/perf/baseline_sdk.py: the floor work with the SDK only (read
               once, hash once, one upload session, same chunk size)

each with every `--latency` (seconds the fake waits per request, after receiving the
body and before answering: a round trip). Each case runs `--runs` times and the
table shows the median of each column; "server CPU s" is the fake's own CPU time
during the run, never counted as the client's. Bytecode is compiled into a
temporary PYTHONPYCACHEPREFIX by an untimed warm-up run, as an installed package
would have it. Prints a markdown table.

`--no-persist` runs the fake with `persist = False`: it receives and content-hashes
every body (and checks every content_hash) but does not write the bytes to disk, as
real Dropbox's storage cost is not on the client's machine (benchmark only; the
uploaded files cannot be downloaded from the fake).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("fermentrack-backup"))
BASELINE = Path(__file__).with_name("baseline_sdk.py")
MIB = 1024 * 1024

SERVER = """
import os
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.fakes.dropbox_server import FakeDropbox
fake = FakeDropbox(Path({dir!r})).start()
fake.quota_allocated = 1 << 50
fake.persist = {persist!r}
print(fake.host, fake.ca_path, fake.app_key, fake.app_secret, fake.issue_refresh_token(),
      flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "latency":
        fake.latency = float(arg)
    elif cmd == "clear":
        for path in fake.file_paths():
            fake._delete(path)
        fake.requests.clear()
    elif cmd == "cpu":
        t = os.times()
        print(t.user + t.system, flush=True)
        continue
    print("ok", flush=True)
fake.stop()
"""


class Server:
    def __init__(self, workdir: Path, *, persist: bool = True) -> None:
        code = SERVER.format(root=str(ROOT), dir=str(workdir / "fake"), persist=persist)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        fields = self.proc.stdout.readline().split()
        self.host, self.ca, self.app_key, self.app_secret, self.refresh_token = fields

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def cpu(self) -> float:
        """CPU seconds (user + system) the fake has used so far."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("cpu\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DROPBOX_API_HOST": self.host,
            "DROPBOX_API_CONTENT_HOST": self.host,
            "DROPBOX_API_NOTIFY_HOST": self.host,
            "DROPBOX_WEB_HOST": self.host,
            "REQUESTS_CA_BUNDLE": self.ca,
            "CURL_CA_BUNDLE": self.ca,
            "SSL_CERT_FILE": self.ca,
            "DROPBOX_APP_KEY": self.app_key,
            "DROPBOX_APP_SECRET": self.app_secret,
            "BENCH_REFRESH_TOKEN": self.refresh_token,
            "FERMENTRACK_BACKUP_TOKEN_STORE": "file",
        }
        env.pop("NO_COLOR", None)
        return env

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def link(home: Path, server: Server) -> None:
    """A Dropbox connection in `home`, as `link dropbox` would leave it."""
    code = f"""
import os
os.environ["FERMENTRACK_BACKUP_HOME"] = {str(home)!r}
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.auth.tokens import open_store
from fermentrack_backup_cli.models import Connection
app = Context.create()
conn = Connection(id={str(uuid.uuid4())!r}, provider="dropbox", label="dropbox",
                  token_store="file")
open_store("file", app.dirs.token_file).set(conn.id, {server.refresh_token!r})
app.db.connections.add(conn)
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        assert proc.stderr is not None
        raise SystemExit(f"{argv[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 16 * MIB))
            out.write(block)
            left -= len(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--runs", type=int, default=1, help="repeat each case; medians shown")
    parser.add_argument("--only", nargs="*", default=None, help="cli, parallel, baseline")
    parser.add_argument(
        "--no-persist",
        action="store_true",
        help="the fake hashes bodies but does not write them to disk (benchmark mode)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fb-bench-") as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        make_file(source, args.size_mib * MIB)
        server = Server(work, persist=not args.no_persist)
        home = work / "home"
        link(home, server)
        env = {**server.env(), "FERMENTRACK_BACKUP_HOME": str(home)}
        # Installed packages have their bytecode compiled; measure that, not the compile
        # of the SDK's multi-megabyte modules (PYTHONDONTWRITEBYTECODE is set in some shells).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        warm = work / "warm-up.bin"
        make_file(warm, MIB)
        measure([sys.executable, str(BASELINE), str(warm), str(args.chunk_mib)], env)
        measure([EXE, "upload", str(warm), "--to", "dropbox", "--no-check"], env)
        server.command("clear")
        cases = {
            "cli": ["--chunk-size", str(args.chunk_mib), "--parallel", "1"],
            "parallel": ["--chunk-size", str(args.chunk_mib), "--parallel", str(args.parallel)],
        }
        rows = []
        try:
            for latency in args.latency:
                server.command(f"latency {latency}")
                for name in args.only or ["baseline", "cli", "parallel"]:
                    results = []
                    for run in range(args.runs):
                        target = work / f"{name}-{latency}-{run}.bin"
                        os.link(source, target)  # same bytes, a new name at the target
                        if name == "baseline":
                            argv = [sys.executable, str(BASELINE), str(target), str(args.chunk_mib)]
                        else:
                            argv = [EXE, "upload", str(target), "--to", "dropbox", "--no-check"]
                            argv += cases[name]
                        before = server.cpu()
                        result = (*measure(argv, env), server.cpu() - before)
                        server.command("clear")
                        target.unlink()
                        results.append(result)
                        print(f"#   run {run + 1}: {result}", file=sys.stderr, flush=True)
                    best = tuple(statistics.median(col) for col in zip(*results, strict=True))
                    label = f"CLI --parallel {args.parallel}" if name == "parallel" else name
                    label = "CLI sequential" if name == "cli" else label
                    label = "baseline (SDK only)" if name == "baseline" else label
                    rows.append((label, latency, *best))
                    print(f"# {label} latency={latency}: {best}", file=sys.stderr, flush=True)
        finally:
            server.stop()
            shutil.rmtree(work / "fake", ignore_errors=True)

    size = args.size_mib * MIB
    print(
        f"\nfile {args.size_mib} MiB, chunk {args.chunk_mib} MiB, "
        f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    fake_mode = "fake without disk writes (--no-persist)" if args.no_persist else "fake persists"
    print(f"median of {args.runs} run(s), {fake_mode}\n")
    print("| client | latency | wall s | CPU s | CPU s/GiB | peak RSS MB | MB/s | server CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, latency, wall, cpu, rss, server_cpu in rows:
        print(
            f"| {label} | {latency * 1000:.0f} ms | {wall:.2f} | {cpu:.2f} | "
            f"{cpu / (size / 1024**3):.2f} | {rss:.0f} | {size / wall / 1e6:.1f} | "
            f"{server_cpu:.2f} |"
        )


if __name__ == "__main__":
    main()
