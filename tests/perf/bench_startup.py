"""Start-up and local-upload cost of the CLI: wall time and peak RSS per command.

A script, not a test: `uv run python tests/perf/bench_startup.py [--runs N]`.
Each command runs in a fresh subprocess (as cron would); peak RSS is the
child's ru_maxrss. Prints a markdown table for the README. Measured as an installed
package runs: PYTHONDONTWRITEBYTECODE is unset for the children and an untimed first
run of each command compiles what it imports (into a temporary PYTHONPYCACHEPREFIX),
so no timed run recompiles the SDK.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("fermentrack-backup"))
SAMPLE = ROOT / "examples" / "2026-11-27T03.00.00.tar.xz"


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 7):
        raise SystemExit(f"{argv} failed")
    return wall, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FERMENTRACK_BACKUP_HOME": str(Path(tmp) / "home")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        dest = Path(tmp) / "dest"
        dest.mkdir()  # a local target must exist (upload --mkdir would create it)
        commands = {
            "--help": [EXE, "--help"],
            "providers": [EXE, "providers"],
            "status": [EXE, "status"],
            "verify sample": [EXE, "verify", str(SAMPLE)],
            "upload sample --to local:": [EXE, "upload", str(SAMPLE), "--to", f"local:{dest}"],
            "python -c 'import dropbox' (for scale)": [sys.executable, "-c", "import dropbox"],
        }
        print("| command | median wall (s) | peak RSS (MB) |")
        print("|---|---|---|")
        for name, argv in commands.items():
            measure(argv, env)  # untimed: compiles the bytecode
            runs = [measure(argv, env) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            print(f"| `{name}` | {wall:.2f} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
