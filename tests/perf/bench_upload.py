"""Issue 11 upload benchmark: wall, client CPU and peak RSS through the fake Dropbox.

A script, not a test. The README table comes from (on an idle machine; ~10 min of cases
here on 2026-12-02 plus ~1 min generating the archives the first time, see "Runtime"):

    uv run python tests/perf/bench_upload.py --preset readme --stored-xz \
        --cache-dir ~/.cache/fb-bench

Other runs (--sizes, --kinds, --latencies and --clients make one block of the matrix,
from the issue's whole matrix or, with --preset, from the preset's first block; --tty and
--taskset add their rows to every block):

    uv run python tests/perf/bench_upload.py --preset readme --plan   # cases + estimate only
    uv run python tests/perf/bench_upload.py --preset smoke           # every path, ~1 min
    uv run python tests/perf/bench_upload.py --preset full --cache-dir ~/.cache/fb-bench
    uv run python tests/perf/bench_upload.py --sizes 512M --kinds zip --latencies 0 100 \
        --tty --taskset 0 --runs 3

Matrix (one table row per case):

* sizes (`--sizes`, default 512M 1G 4G) x archive kinds (`--kinds`): `zip`, a STORED
  .zip (zipfile ZIP_STORED: a Fermentrack JSON dump, data/ CSV logs, then 64 MiB members
  of random bytes), and `tar.xz`, a Fermentrack-like archive (the same dump and CSV logs
  plus one incompressible filler member so the file reaches the size) compressed with
  `xz -T0 -0` (`--stored-xz`: written at once as stored LZMA2 chunks, which is what
  xz -0 makes of random bytes anyway). Files are the nominal size within 0.1%, generated
  once into `--cache-dir` (default: a temp dir, deleted at the end; ~12 GiB for the
  readme preset) and reused by later runs.
* latencies (`--latencies`, ms per request, default 0 50 100): the fake waits that long
  after each request's body and before answering (a round trip). Rows with a latency
  above 0 also get a per-connection upstream cap of `--cap` MB/s (default 20, 10^6
  bytes/s: the fake's `rate_limit`, each connection paced on its own); the 0 ms rows are
  uncapped, so they compare the CPU work (the CPU target) rather than the fake's pacing.
  `--cap-zero` caps them too.
* clients, each a fresh child process: `floor` (tests/perf/baseline_sdk.py with
  `--floor-chunk-mib` 32 MiB chunks: read once, hash once, sequential, no archive check),
  `cli` (`upload FILE --to dropbox`, no flags: what users get), and for .tar.xz the two
  references of its target: `nocheck` (`upload --no-check`: the same bytes, no check)
  and `xz-t` (`xz -t FILE`, no network; xz 5.4 decodes with one thread by default).
* bwlimit rows (all presets; `--no-bwlimit` skips them): `upload --bwlimit 5M` and
  `--bwlimit 5M --parallel 4` (`--bwlimit RATE`, rclone units: 5M = 5 MiB/s) of a
  `--bwlimit-mib` (150) MiB STORED zip, ~30 s at that rate, through the uncapped 0 ms
  fake so only the client limits the rate. The rate shown is the file's size over the
  time from the fake's first upload request to the client's exit (start-up excluded).
  A CLI without `--bwlimit` (its `upload --help` does not list it, or it answers "No
  such option") gives "n/a" rows instead of failing.
* variants: `pipe` (stdout + stderr on a pipe, drained, as under cron), `tty` (`--tty`:
  the `cli` client on a pseudo-terminal, 120x40, drained: the RSS-on-a-terminal target)
  and `taskset` (`--taskset CPUS`, e.g. 0: every client under `taskset -c CPUS`, one
  core as a small Pi; the fake's threads are pinned to the other cores meanwhile).

Measurement: each client is a fresh child measured with os.wait4 (wall; CPU = user +
system of that child; peak RSS = ru_maxrss). The fake runs in its own process and is
never counted as the client ("server CPU s" is its own CPU during the case); it hashes
and checks every body but does not store the bytes (`--persist` stores them; see
RESULTS.md on this VM's page-cache cost). Bytecode is compiled by an untimed warm-up
(floor, cli piped and cli on a pty, both kinds) into a temporary PYTHONPYCACHEPREFIX,
with PYTHONDONTWRITEBYTECODE unset, as an installed package has it. Each case runs
`--runs` times (default 1); tables show medians. A failing client gives a "failed" row
(its output on stderr) and the run goes on. `--json FILE` keeps the raw runs.

Output: a markdown table of the cases, then a table of the issue 11 targets with the
measured ratios and met / not met, both ready for the README.

Runtime on this 2-vCPU VM (`--plan` prints the case list and this estimate; its model:
~140 MB/s at 0 ms, `--cap` per connection when capped, + the latency per request at
8 MiB (the CLI as it is before issue 11: sequential) or 32 MiB (the floor), + 1 s
start-up. It is an upper bound: the 16-64 MiB smoke runs here took 0.4-0.9 s less per
case, the capped 32 MiB ones ~0.5 s less, and a faster CLI only shortens the runs):

* `--preset readme` (45 cases): 0 ms uncapped at 512 MiB, 1 GiB and 4 GiB, both kinds,
  every client, piped + on a terminal (the CPU, .tar.xz and RSS targets); 50 and 100 ms
  capped at 512 MiB and 1 GiB for the zip, 100 ms capped at 512 MiB for the .tar.xz (the
  latency target); `taskset -c 0` at 512 MiB (0 ms, both kinds; 100 ms zip); the two
  bwlimit rows: ~16 min, plus ~7 min generating 5.6 GiB of .tar.xz with xz -T0 -0 and
  5.6 GiB of zip on the first run (~1 min with `--stored-xz`).
* `--preset full` (72 cases, the whole issue matrix piped, terminal rows at 0 ms, taskset
  at 512 MiB): ~69 min + the same generation; the 4 GiB capped floor runs alone take
  ~215 s each (4 GiB at 20 MB/s).
* `--preset smoke` (16 and 32 MiB): ~1 min; checks that every path works, not numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import lzma
import os
import platform
import pty
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import termios
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.samples import StoredXz, make_sample  # noqa: E402 - after the path; stdlib only

EXE = str(Path(sys.executable).with_name("fermentrack-backup"))
BASELINE = Path(__file__).with_name("baseline_sdk.py")
MIB = 1024 * 1024
GIB = 1024 * MIB
GEN_VERSION = 1  # bump when the generated archives change
PAYLOAD_MEMBER = 64 * MIB

SERVER = """
import json
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
    elif cmd == "rate":
        fake.rate_limit = float(arg)
    elif cmd == "clear":
        for path in fake.file_paths():
            fake._delete(path)
        fake.requests.clear()
    elif cmd == "cpu":
        t = os.times()
        print(t.user + t.system, flush=True)
        continue
    elif cmd == "first_upload":
        times = [r.time for r in fake.requests if r.route.startswith("files/upload")]
        print(min(times) if times else 0.0, flush=True)
        continue
    print("ok", flush=True)
fake.stop()
"""


# --------------------------------------------------------------------------- the fake


class Server:
    def __init__(self, workdir: Path, *, persist: bool) -> None:
        code = SERVER.format(root=str(ROOT), dir=str(workdir / "fake"), persist=persist)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        fields = self._stdout().readline().split()
        self.host, self.ca, self.app_key, self.app_secret, self.refresh_token = fields

    def _stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return str(self._stdout().readline().strip())

    def command(self, line: str) -> None:
        assert self.ask(line) == "ok"

    def cpu(self) -> float:
        """CPU seconds (user + system) the fake has used so far."""
        return float(self.ask("cpu"))

    def pin(self, cpus: set[int]) -> None:
        """Run every thread of the fake (and the threads it starts later) on `cpus`."""
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(tid), cpus)

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
        self.proc.wait(timeout=60)


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


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    code: int
    output: str  # the tail of what the child printed (for failures)
    started: float  # time.time() at spawn, to compare with the fake's request times
    ended: float


def _drain(stream: BinaryIO, sink: list[bytes]) -> None:
    while chunk := stream.read(65536):
        sink.append(chunk)
        del sink[:-8]


def measure_piped(argv: list[str], env: dict[str, str]) -> Run:
    """One child with stdout and stderr on pipes (drained), measured with os.wait4."""
    out: list[bytes] = []
    started = time.time()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    reader = threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    ended = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    proc.stdout.close()
    text = b"".join(out).decode(errors="replace")[-3000:]
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, proc.returncode, text, started, ended)


def measure_tty(argv: list[str], env: dict[str, str]) -> Run:
    """One child on a pseudo-terminal (its stdin, stdout and stderr), output drained."""
    out = bytearray()
    started = time.time()
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, no Python clean-up of the parent's state
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        out += chunk
        del out[:-3000]
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    ended = time.time()
    os.close(fd)
    text = out.decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    code = os.waitstatus_to_exitcode(status)
    return Run(wall, cpu, usage.ru_maxrss / 1024, code, text, started, ended)


# --------------------------------------------------------------------------- archives


def _random_stream(size: int) -> Iterator[bytes]:
    left = size
    while left:
        block = os.urandom(min(left, 4 * MIB))
        left -= len(block)
        yield block


class _Stream:
    """A file-like reader of `size` random bytes, for tarfile.addfile."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if self._pos == len(self._block):
            self._block, self._pos = os.urandom(min(self._left, 4 * MIB)), 0
            self._left -= len(self._block)
        n = len(self._block) - self._pos if n < 0 else n
        data = self._block[self._pos : self._pos + n]
        self._pos += len(data)
        return data


def _fermentrack_members() -> list[tuple[str, bytes | None]]:
    """The README sample's members: a JSON data dump, data/, CSV temperature logs."""
    when = make_sample.DEFAULT_WHEN
    members: list[tuple[str, bytes | None]] = make_sample._members(when, 4, 5000, 3)
    return members


def make_zip(path: Path, size: int) -> None:
    """A STORED .zip of about `size` bytes: the Fermentrack members, then random ones."""
    stamp = (2026, 11, 27, 3, 0, 0)
    with path.open("wb") as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in _fermentrack_members():
            zf.writestr(zipfile.ZipInfo(name + "/" if data is None else name, stamp), data or b"")
        n = 0
        while True:
            # local header + name + zip64 extra, the central directory entry, the end records
            left = size - fh.tell() - 256 * (n + 1) - 200
            if left <= 0:
                break
            member = min(left, PAYLOAD_MEMBER)
            with zf.open(zipfile.ZipInfo(f"media/payload-{n:04d}.bin", stamp), "w") as out:
                for block in _random_stream(member):
                    out.write(block)
            n += 1


def make_tar_xz(path: Path, size: int, *, stored: bool = False) -> None:
    """A Fermentrack-like .tar.xz of about `size` bytes (`xz -T0 -0`), mostly filler.

    `stored`: tests/samples.py's StoredXz instead, at once: all LZMA2 "uncompressed"
    chunks, which is what xz -0 makes of the random filler anyway, but the logs are
    stored too and there is no CRC64 check (xz -0 on random data runs at ~8 MB/s a core).
    """
    mtime = 1795748400
    small = io.BytesIO()
    with tarfile.open(fileobj=small, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in _fermentrack_members():
            ti = tarfile.TarInfo(name)
            ti.size = len(data or b"")
            tar.addfile(ti, io.BytesIO(data or b""))
    # random bytes do not compress: xz -0 stores them with ~0.01% framing
    if stored:  # 3 bytes of chunk header per 64 KiB, the tar's end blocks
        filler = int((size - len(small.getvalue()) - 10240 - 64) / (1 + 3 / 65536))
    else:
        filler = max(0, int((size - len(lzma.compress(small.getvalue(), preset=0))) / 1.0001))
    with path.open("wb") as fh:
        xz: subprocess.Popen[bytes] | None = None
        if stored:
            sink: Any = StoredXz(fh, 256 * 1024)  # xz -0's dictionary
        else:
            xz = subprocess.Popen(["xz", "-T0", "-0", "-c"], stdin=subprocess.PIPE, stdout=fh)
            sink = xz.stdin
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:

            def info(name: str, n: int, directory: bool = False) -> tarfile.TarInfo:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mtime, ti.uid, ti.gid = n, mtime, 1000, 1000
                ti.uname = ti.gname = "fermentrack"
                ti.mode = 0o755 if directory else 0o644
                ti.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
                return ti

            for name, data in _fermentrack_members():
                if data is None:
                    tar.addfile(info(name, 0, directory=True))
                else:
                    tar.addfile(info(name, len(data)), _BytesReader(data))
            tar.addfile(info("media/filler.bin", filler), _Stream(filler))
        sink.close()
        if xz is not None and xz.wait() != 0:
            raise SystemExit(f"xz failed writing {path}")


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk


def archive(cache: Path, kind: str, size: int, stored_xz: bool = False) -> Path:
    """The cached archive of `kind` and nominal `size`, generated on first use."""
    how = "-stored" if stored_xz and kind == "tar.xz" else ""
    path = cache / f"bench-v{GEN_VERSION}-{size // MIB}MiB{how}.{kind}"
    if path.exists():
        return path
    tmp = path.with_name(path.name + ".part")
    started = time.perf_counter()
    if kind == "zip":
        make_zip(tmp, size)
    else:
        make_tar_xz(tmp, size, stored=stored_xz)
    tmp.rename(path)
    took = time.perf_counter() - started
    print(
        f"# generated {path.name} ({path.stat().st_size / MIB:.1f} MiB) in {took:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return path


# --------------------------------------------------------------------------- the matrix

CLIENTS = ("floor", "cli", "nocheck", "xz-t")
XZ_ONLY = ("nocheck", "xz-t")
VARIANTS = ("pipe", "tty", "taskset")
BW_CLIENTS = ("bwlimit", "bwlimit-p4")


@dataclass(frozen=True)
class Group:
    """One block of the matrix: every combination of these (the irrelevant ones skipped)."""

    sizes: tuple[int, ...]
    kinds: tuple[str, ...] = ("zip", "tar.xz")
    latencies: tuple[float, ...] = (0.0, 50.0, 100.0)  # ms
    clients: tuple[str, ...] = CLIENTS
    variants: tuple[str, ...] = ("pipe",)


@dataclass(frozen=True)
class Case:
    size: int
    kind: str
    latency: float  # ms
    cap: float  # MB/s per connection, 0: none
    client: str
    variant: str


M512, G1, G4 = 512 * MIB, GIB, 4 * GIB
PRESETS: dict[str, list[Group]] = {
    "readme": [
        # the CPU and RSS targets: 0 ms, uncapped, every size; RSS piped and on a terminal
        Group((M512, G1, G4), latencies=(0.0,), variants=("pipe", "tty")),
        # the latency target: 50 / 100 ms with the per-connection cap
        Group((M512, G1), kinds=("zip",), latencies=(50.0, 100.0), clients=("floor", "cli")),
        Group((M512,), kinds=("tar.xz",), latencies=(100.0,)),
        # one core, as a small Pi
        Group((M512,), latencies=(0.0,), variants=("taskset",)),
        Group(
            (M512,),
            kinds=("zip",),
            latencies=(100.0,),
            clients=("floor", "cli"),
            variants=("taskset",),
        ),
    ],
    "full": [
        Group((M512, G1, G4)),
        Group((M512, G1, G4), latencies=(0.0,), clients=("cli",), variants=("tty",)),
        Group((M512,), variants=("taskset",)),
    ],
    "smoke": [
        Group((16 * MIB,), latencies=(0.0,), variants=("pipe", "tty", "taskset")),
        Group((32 * MIB,), kinds=("zip",), latencies=(50.0,), clients=("floor", "cli")),
    ],
}
BW_PRESET = {"readme": True, "full": True, "smoke": True}


def cases_of(groups: list[Group], cap: float, cap_zero: bool) -> list[Case]:
    seen: dict[Case, None] = {}
    for g in groups:
        for size in g.sizes:
            for kind in g.kinds:
                for latency in g.latencies:
                    for client in g.clients:
                        if client in XZ_ONLY and kind != "tar.xz":
                            continue
                        for variant in g.variants:
                            if variant == "tty" and client != "cli":
                                continue
                            capped = cap if latency > 0 or cap_zero else 0.0
                            lat = latency
                            if client == "xz-t":  # no network: one row per size and variant
                                lat, capped = 0.0, 0.0
                            seen[Case(size, kind, lat, capped, client, variant)] = None
    return list(seen)


def parse_size(text: str) -> int:
    """512M, 1G, 4G, 16M (binary units), or a plain number of MiB."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    if t.endswith("G"):
        return int(float(t[:-1]) * GIB)
    if t.endswith("M"):
        return int(float(t[:-1]) * MIB)
    if t.endswith("K"):
        return int(float(t[:-1]) * 1024)
    return int(float(t) * MIB)


def parse_rate(text: str) -> float:
    """rclone's units: 512k, 5M (KiB/s, MiB/s), bytes per second."""
    return float(parse_size(text if text[-1:].isalpha() else text + "K") if text else 0)


def estimate(case: Case, floor_chunk: int) -> float:
    """Seconds one run of `case` takes, roughly (see the module docstring)."""
    mb = case.size / 1e6
    if case.client == "xz-t":
        return 0.3 + mb / 400
    chunk = floor_chunk if case.client == "floor" else 8 * MIB
    requests = case.size / chunk
    rate = 140.0 if case.cap == 0 else min(140.0, case.cap)
    seconds = 1.0 + mb / rate + requests * case.latency / 1000
    if case.client == "cli" and case.kind == "tar.xz":
        seconds += 0.2 * mb / 140  # the check's share, where it does not overlap
    if case.variant == "taskset":
        seconds *= 1.5 if case.cap == 0 else 1.05
    return seconds


def human(size: int) -> str:
    return f"{size / GIB:.4g} GiB" if size >= GIB else f"{size / MIB:.4g} MiB"


# --------------------------------------------------------------------------- running


@dataclass
class Row:
    case: Case
    actual_size: int
    runs: list[Run] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # bytes/s, bwlimit rows
    note: str = ""  # "n/a: ..." or "failed: ..."

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in self.runs))


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, cache: Path) -> None:
        self.args = args
        self.work = work
        self.cache = cache
        self.links = cache / f"links-{os.getpid()}"
        self.links.mkdir(exist_ok=True)
        self.server = Server(work, persist=args.persist)
        home = work / "home"
        link(home, self.server)
        env = {**self.server.env(), "FERMENTRACK_BACKUP_HOME": str(home)}
        # Installed packages have their bytecode compiled; measure that, not the compile
        # of the SDK's multi-megabyte modules (PYTHONDONTWRITEBYTECODE is set in some shells).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        env.setdefault("TERM", "xterm-256color")
        self.env = env
        self.counter = 0
        self.latency = -1.0
        self.cap = -1.0
        self.help = subprocess.run(
            [EXE, "upload", "--help"], env=env, capture_output=True, text=True
        ).stdout

    def close(self) -> None:
        self.server.stop()
        shutil.rmtree(self.links, ignore_errors=True)

    def set_link(self, latency_ms: float, cap_mbps: float) -> None:
        if latency_ms != self.latency:
            self.server.command(f"latency {latency_ms / 1000}")
            self.latency = latency_ms
        if cap_mbps != self.cap:
            self.server.command(f"rate {cap_mbps * 1e6}")
            self.cap = cap_mbps

    def target(self, source: Path, kind: str) -> Path:
        """A new name for the same bytes (a hard link), so every upload is a new file."""
        self.counter += 1
        path = self.links / f"2026-11-27T03.00.00-{self.counter:04d}.{kind}"
        os.link(source, path)
        return path

    def argv(self, client: str, path: Path, variant: str) -> list[str]:
        if client == "floor":
            argv = [sys.executable, str(BASELINE), str(path), str(self.args.floor_chunk_mib)]
        elif client == "xz-t":
            argv = [shutil.which("xz") or "xz", "-t", str(path)]
        else:
            argv = [EXE, "upload", str(path), "--to", "dropbox"]
            argv += shlex.split(self.args.cli_args)  # experiments: the same flags on every CLI row
            if client == "nocheck":
                argv.append("--no-check")
            elif client.startswith("bwlimit"):
                argv += ["--bwlimit", self.args.bwlimit]
                if client == "bwlimit-p4":
                    argv += ["--parallel", "4"]
        if variant == "taskset":
            argv = [shutil.which("taskset") or "taskset", "-c", self.args.taskset, *argv]
        return argv

    def warm_up(self) -> None:
        """Compile the bytecode of every path the timed runs take (untimed)."""
        self.set_link(0, 0)
        for kind in ("zip", "tar.xz"):
            source = archive(self.cache, kind, 2 * MIB, self.args.stored_xz)
            for client, variant in (("floor", "pipe"), ("cli", "pipe"), ("cli", "tty")):
                path = self.target(source, kind)
                measure = measure_tty if variant == "tty" else measure_piped
                run = measure(self.argv(client, path, variant), self.env)
                if run.code != 0:
                    raise SystemExit(f"warm-up {client} {kind} failed:\n{run.output}")
                path.unlink()
        self.server.command("clear")

    def run_case(self, case: Case, source: Path) -> Row:
        row = Row(case, source.stat().st_size)
        if case.client.startswith("bwlimit") and "--bwlimit" not in self.help:
            row.note = "n/a: this CLI has no --bwlimit"
            return row
        self.set_link(case.latency, case.cap)
        others = set(range(os.cpu_count() or 1)) - {int(c) for c in self.args.taskset.split(",")}
        if case.variant == "taskset" and others:
            self.server.pin(others)
        try:
            for i in range(self.args.runs):
                path = self.target(source, case.kind)
                before = self.server.cpu()
                measure = measure_tty if case.variant == "tty" else measure_piped
                run = measure(self.argv(case.client, path, case.variant), self.env)
                row.server_cpu.append(self.server.cpu() - before)
                if case.client.startswith("bwlimit") and run.code == 0:
                    first = float(self.server.ask("first_upload"))
                    if first:
                        row.rates.append(row.actual_size / (run.ended - first))
                self.server.command("clear")
                path.unlink()
                if run.code != 0:
                    unknown = "No such option" in run.output or "no such option" in run.output
                    if case.client.startswith("bwlimit") and unknown:
                        row.note = "n/a: this CLI has no --bwlimit"
                    else:
                        row.note = f"failed: exit {run.code}"
                        print(f"# {case}: exit {run.code}\n{run.output}", file=sys.stderr)
                    row.runs.clear()
                    return row
                row.runs.append(run)
                print(
                    f"#   run {i + 1}: wall {run.wall:.2f} s, CPU {run.cpu:.2f} s, "
                    f"RSS {run.rss_mb:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            if case.variant == "taskset" and others:
                self.server.pin(set(range(os.cpu_count() or 1)))
        return row


# --------------------------------------------------------------------------- tables

LABELS = {
    "floor": "floor (SDK, {chunk} MiB, sequential)",
    "cli": "`upload` (defaults)",
    "nocheck": "`upload --no-check`",
    "xz-t": "`xz -t`",
    "bwlimit": "`upload --bwlimit {bw}`",
    "bwlimit-p4": "`upload --bwlimit {bw} --parallel 4`",
}


def label(case: Case, args: argparse.Namespace) -> str:
    text = LABELS[case.client].format(chunk=args.floor_chunk_mib, bw=args.bwlimit)
    if case.variant == "tty":
        text += ", on a terminal"
    elif case.variant == "taskset":
        text += f", `taskset -c {args.taskset}`"
    return text


def link_text(case: Case) -> str:
    cap = f", {case.cap:g} MB/s" if case.cap else ""
    return f"{case.latency:g} ms{cap}"


def results_table(rows: list[Row], args: argparse.Namespace) -> list[str]:
    out = [
        "| size | archive | latency, cap | client | wall s | client CPU s | peak RSS MB "
        "| MB/s | server CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        c = row.case
        head = f"| {human(c.size)} | {kind_text(c.kind)} | {link_text(c)} | {label(c, args)} |"
        if row.note:
            out.append(f"{head} {row.note} | | | | |")
            continue
        wall = row.median("wall")
        speed = f"{row.actual_size / wall / 1e6:.1f}"
        if row.rates:
            speed = f"{statistics.median(row.rates) / MIB:.2f} MiB/s upload"
        server = "" if c.client == "xz-t" else f"{statistics.median(row.server_cpu):.2f}"
        out.append(
            f"{head} {wall:.2f} | {row.median('cpu'):.2f} | {row.median('rss_mb'):.0f} | "
            f"{speed} | {server} |"
        )
    return out


def kind_text(kind: str) -> str:
    return "STORED .zip" if kind == "zip" else ".tar.xz (xz -0)"


def targets_table(rows: list[Row], args: argparse.Namespace) -> list[str]:
    by: dict[Case, Row] = {r.case: r for r in rows if r.runs}

    def get(**kw: object) -> Row | None:
        for case, row in by.items():
            if all(getattr(case, k) == v for k, v in kw.items()):
                return row
        return None

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    out = ["| target | case | measured | result |", "|---|---|---|---|"]
    sizes = sorted({c.size for c in by})
    for variant in ("pipe", "taskset"):
        where = "" if variant == "pipe" else f", `taskset -c {args.taskset}`"
        for size in sizes:
            floor = get(size=size, kind="zip", latency=0.0, client="floor", variant=variant)
            cli = get(size=size, kind="zip", latency=0.0, client="cli", variant=variant)
            if floor and cli:
                w = cli.median("wall") / floor.median("wall")
                c = cli.median("cpu") / floor.median("cpu")
                case = f"{human(size)} STORED .zip, {link_text(cli.case)}{where}"
                out.append(
                    f"| defaults' wall <= 0.7x the floor's | {case} | {w:.2f}x | "
                    f"{verdict(w <= 0.7)} |"
                )
                out.append(
                    f"| defaults' client CPU <= 1.05x the floor's | {case} | {c:.2f}x | "
                    f"{verdict(c <= 1.05)} |"
                )
        for size in sizes:
            for kind in ("zip", "tar.xz"):
                floor = get(size=size, kind=kind, latency=100.0, client="floor", variant=variant)
                cli = get(size=size, kind=kind, latency=100.0, client="cli", variant=variant)
                if floor and cli and cli.case.cap:
                    x = floor.median("wall") / cli.median("wall")
                    case = f"{human(size)} {kind_text(kind)}, {link_text(cli.case)}{where}"
                    out.append(
                        f"| defaults >= 2.5x faster than the floor | {case} | {x:.2f}x | "
                        f"{verdict(x >= 2.5)} |"
                    )
        for size in sizes:
            for latency in sorted({c.latency for c in by}):
                kw = dict(size=size, kind="tar.xz", latency=latency, variant=variant)
                cli, nocheck = get(client="cli", **kw), get(client="nocheck", **kw)
                xzt = get(size=size, kind="tar.xz", client="xz-t", variant=variant)
                if cli and nocheck and xzt:
                    ref = max(nocheck.median("wall"), xzt.median("wall"))
                    x = cli.median("wall") / ref
                    case = f"{human(size)} .tar.xz, {link_text(cli.case)}{where}"
                    out.append(
                        f"| wall <= 1.1x max(`--no-check` upload, `xz -t`) | {case} | {x:.2f}x "
                        f"(of {ref:.2f} s) | {verdict(x <= 1.1)} |"
                    )
    for variant, where in (("pipe", "piped"), ("tty", "on a terminal")):
        for kind in ("zip", "tar.xz"):
            got = [
                r
                for c, r in sorted(by.items(), key=lambda i: i[0].size)
                if c.client == "cli" and c.variant == variant and c.kind == kind and c.latency == 0
            ]
            if not got:
                continue
            rss = [r.median("rss_mb") for r in got]
            span = ", ".join(f"{human(r.case.size)} {v:.0f}" for r, v in zip(got, rss, strict=True))
            case = f"{kind_text(kind)}, 0 ms, {where}"
            out.append(
                f"| defaults' peak RSS <= 90 MB | {case} | {span} MB | {verdict(max(rss) <= 90)} |"
            )
            if len(got) > 1:
                spread = max(rss) / min(rss) - 1
                out.append(
                    f"| peak RSS within 5% across sizes | {case} | {spread * 100:.1f}% | "
                    f"{verdict(spread <= 0.05)} |"
                )
    want = parse_rate(args.bwlimit)
    for row in rows:
        if row.case.client.startswith("bwlimit"):
            name = label(row.case, args)
            if row.rates:
                got_rate = statistics.median(row.rates)
                off = got_rate / want - 1
                out.append(
                    f"| average within 10% of the limit | {name}, {human(row.actual_size)} | "
                    f"{got_rate / MIB:.2f} MiB/s ({off * 100:+.1f}%) | {verdict(abs(off) <= 0.1)} |"
                )
            else:
                out.append(f"| average within 10% of the limit | {name} | {row.note} | n/a |")
    out.append(
        "| `--help` and offline commands never import the SDK | - | not measured here: "
        "tests (sys.modules) and tests/perf/bench_startup.py | - |"
    )
    return out


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--preset", choices=sorted(PRESETS), help="a predefined matrix (see above)")
    p.add_argument("--sizes", nargs="+", type=parse_size, help="e.g. 512M 1G 4G")
    p.add_argument("--kinds", nargs="+", choices=("zip", "tar.xz"))
    p.add_argument("--latencies", nargs="+", type=float, help="ms per request, e.g. 0 50 100")
    p.add_argument("--clients", nargs="+", choices=CLIENTS)
    p.add_argument("--cap", type=float, default=20.0, help="MB/s per connection (latency > 0)")
    p.add_argument("--cap-zero", action="store_true", help="cap the 0 ms rows too")
    p.add_argument("--tty", action="store_true", help="add rows with the CLI on a terminal")
    p.add_argument(
        "--taskset",
        metavar="CPUS",
        help="add rows with every client under taskset -c CPUS (e.g. 0: one core, as a Pi)",
    )
    p.add_argument("--bwlimit", default="5M", help="rate for the bwlimit rows (rclone units)")
    p.add_argument("--bwlimit-mib", type=float, default=150, help="size of the bwlimit file")
    p.add_argument("--no-bwlimit", action="store_true", help="skip the bwlimit rows")
    p.add_argument("--floor-chunk-mib", type=int, default=32)
    p.add_argument(
        "--cli-args", default="", help="extra upload flags on every CLI row (experiments only)"
    )
    p.add_argument("--runs", type=int, default=1, help="repeat each case; medians shown")
    p.add_argument("--cache-dir", type=Path, help="keep generated archives here")
    p.add_argument(
        "--stored-xz",
        action="store_true",
        help="write the .tar.xz files at once with stored LZMA2 chunks, not xz -T0 -0",
    )
    p.add_argument("--persist", action="store_true", help="the fake writes the bytes to disk")
    p.add_argument("--plan", action="store_true", help="list the cases and an estimate, no run")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    args = p.parse_args()
    args.one_core = args.taskset is not None
    args.taskset = args.taskset or "0"  # the presets' taskset rows
    return args


def groups_of(args: argparse.Namespace) -> list[Group]:
    """The preset's blocks, or one block from the options (starting from the preset's first
    block, or the issue's whole matrix piped); --tty and --taskset add their rows to each."""
    extra = ("tty",) * args.tty + ("taskset",) * args.one_core
    custom = any(v is not None for v in (args.sizes, args.kinds, args.latencies, args.clients))
    if args.preset and not custom:
        groups = PRESETS[args.preset]
    else:
        base = PRESETS[args.preset][0] if args.preset else Group((M512, G1, G4))
        groups = [
            replace(
                base,
                sizes=tuple(args.sizes or base.sizes),
                kinds=tuple(args.kinds or base.kinds),
                latencies=tuple(base.latencies if args.latencies is None else args.latencies),
                clients=tuple(args.clients or base.clients),
            )
        ]
    return [replace(g, variants=tuple(dict.fromkeys(g.variants + extra))) for g in groups]


def main() -> None:
    args = parse_args()
    cases = cases_of(groups_of(args), args.cap, args.cap_zero)
    with_bw = not args.no_bwlimit and (args.preset is None or BW_PRESET.get(args.preset, False))
    bw_size = int(args.bwlimit_mib * MIB)
    if with_bw:
        cases += [Case(bw_size, "zip", 0.0, 0.0, c, "pipe") for c in BW_CLIENTS]
    total = 0.0
    for case in cases:
        if case.client.startswith("bwlimit"):
            seconds = bw_size / parse_rate(args.bwlimit) + 1
        else:
            seconds = estimate(case, args.floor_chunk_mib * MIB)
        total += seconds * args.runs
        if args.plan:
            print(
                f"{human(case.size):>8} {case.kind:6} {link_text(case):14} {case.client:10} "
                f"{case.variant:7} ~{seconds:.0f} s"
            )
    # generating, measured here: zip ~200 MB/s; xz -T0 -0 of random data ~16 MB/s on the
    # 2 cores (xz -0 manages ~8 MB/s a core on it), --stored-xz ~250 MB/s
    xz_rate = 250 if args.stored_xz else 16
    sizes = {(c.kind, c.size) for c in cases}
    gen = sum(s / 1e6 / (200 if k == "zip" else xz_rate) for k, s in sizes)
    print(
        f"# {len(cases)} cases x {args.runs} run(s): ~{total / 60:.0f} min, plus "
        f"~{gen / 60:.0f} min generating archives not in the cache",
        file=sys.stderr,
    )
    if args.plan:
        return

    cache_tmp = None
    if args.cache_dir:
        cache = args.cache_dir.expanduser()
        cache.mkdir(parents=True, exist_ok=True)
    else:
        cache_tmp = tempfile.TemporaryDirectory(prefix="fb-bench-cache-")
        cache = Path(cache_tmp.name)
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fb-bench-") as tmp:
        bench = Bench(args, Path(tmp), cache)
        try:
            bench.warm_up()
            for case in cases:
                if case.client.startswith("bwlimit") and "--bwlimit" not in bench.help:
                    rows.append(Row(case, case.size, note="n/a: this CLI has no --bwlimit"))
                    continue
                source = archive(cache, case.kind, case.size, args.stored_xz)
                print(
                    f"# {human(case.size)} {case.kind} {link_text(case)} {case.client} "
                    f"{case.variant}",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append(bench.run_case(case, source))
        finally:
            bench.close()
    if cache_tmp:
        cache_tmp.cleanup()
    took = time.perf_counter() - started

    xz = subprocess.run(["xz", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    mode = "stores the bytes" if args.persist else "hashes but does not store the bytes"
    print(
        f"\n{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{xz}; median of {args.runs} run(s); the fake {mode}; {took / 60:.1f} min.\n"
    )
    print("\n".join(results_table(rows, args)))
    print("\nTargets of issue 11:\n")
    print("\n".join(targets_table(rows, args)))
    if args.json:
        raw = [
            {
                "case": c.case.__dict__,
                "size": c.actual_size,
                "note": c.note,
                "server_cpu": c.server_cpu,
                "rates": c.rates,
                "runs": [{k: v for k, v in r.__dict__.items() if k != "output"} for r in c.runs],
            }
            for c in rows
        ]
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
