"""Run every side-by-side benchmark in sequence (``make bench``); each prints its own table."""

from __future__ import annotations

import subprocess
import sys

BENCHES = (
    "bench.hot_path",
    "bench.listing",
    "bench.stack_floor",
    "bench.request_cost",
    "bench.server_throughput",
    "bench.upload_memory",
    "bench.sync_vs_rclone",
    "bench.form_vs_put",
    "bench.attack",
    "bench.ftp_gateway",
    "bench.scaleout",
)


def main() -> int:
    """Run each benchmark module; exit non-zero if any failed."""
    failed = []
    for module in BENCHES:
        print(f"=== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
