"""FTPS upload throughput: our FtpDestination against `curl --ssl-reqd -T`, same file, same server.

Starts a throwaway pyftpdlib FTPS server on a loopback port (tests/python/ftpd.py: explicit TLS,
TLS required on the data connections, data connections must resume the control connection's TLS
session), writes a file of random bytes, then alternates curl and FtpDestination for several rounds
and prints both throughputs and their ratio (median of the per-round ratios). Both are timed from
connecting to the end (ours also checks the size and renames the temporary file into place, and
hashes what it sends).

    python bench/ftps_throughput.py                 # 1 GiB, 3 rounds
    python bench/ftps_throughput.py --size 256M --rounds 5 --json
    python bench/ftps_throughput.py --files out/<run_id>/*.csv   # the four feed files of a run, one after another
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT))

from ftpd import PASSWORD, USER, FtpServer  # noqa: E402
from sftp_throughput import MIB, make_file, parse_size  # noqa: E402

from runner.deliver import Upload  # noqa: E402
from runner.deliver.ftp.destination import FtpDestination  # noqa: E402
from runner.deliver.ftp.settings import FtpDestinationSettings  # noqa: E402


def time_curl(server: FtpServer, sources: list[Path], remote_dir: str) -> float:
    """One curl process storing every file in turn over one control connection (`-T {a,b}`)."""
    files = sources[0] if len(sources) == 1 else "{" + ",".join(str(path) for path in sources) + "}"
    started = time.perf_counter()
    subprocess.run(
        ["curl", "--silent", "--show-error", "--ssl-reqd", "--cacert", str(server.ca_file), "--user",
         f"{USER}:{PASSWORD}", "-T", str(files), f"ftp://127.0.0.1:{server.port}/{remote_dir}/"],
        check=True, capture_output=True,
    )
    return time.perf_counter() - started


def time_ours(settings: FtpDestinationSettings, sources: list[Path], known: dict[Path, str] | None = None) -> float:
    """FtpDestination delivering every file; with `known`, each file's SHA-256 is given (as when the
    export hashed it) instead of computed from the bytes sent."""
    started = time.perf_counter()
    with FtpDestination(settings) as destination:
        uploads = [Upload(source, source.name, (known or {}).get(source)) for source in sources]
        for result in destination.deliver_all(uploads):
            assert result.status == "delivered", result.error
    return time.perf_counter() - started


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def check_and_clear(server: FtpServer, folder: str, sizes: dict[str, int]) -> None:
    stored = {path.name: path.stat().st_size for path in (server.root / folder).iterdir()}
    assert stored == sizes, (folder, stored)
    for path in (server.root / folder).iterdir():
        path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="file size, e.g. 1G, 256M (default 1G)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new one under /tmp)")
    parser.add_argument("--files", type=Path, nargs="+", help="upload these files (one after another) instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("cannot benchmark: curl is not installed", file=sys.stderr)
        return 2

    work = args.workdir or Path(tempfile.mkdtemp(prefix="ftps-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.files:
        sources = [path.resolve() for path in args.files]
    else:
        sources = [work / "payload.bin"]
        make_file(sources[0], parse_size(args.size))
    size = sum(path.stat().st_size for path in sources)
    sizes = {path.name: path.stat().st_size for path in sources}
    server = FtpServer(work / "ftpd", require_reuse=True).start()
    try:
        for folder in ("curl", "ours"):
            (server.root / folder).mkdir(exist_ok=True)
        # One file at a time, as curl does (a run's default concurrency is 2).
        settings = FtpDestinationSettings(
            host="127.0.0.1", port=server.port, username=USER, password=PASSWORD, ca_file=server.ca_file,
            remote_dir="/ours", concurrency=1,
        )
        known = {source: file_sha256(source) for source in sources}
        times: dict[str, list[float]] = {"curl": [], "ours": [], "ours, SHA-256 known": []}
        for _ in range(args.rounds):
            times["curl"].append(time_curl(server, sources, "curl"))
            times["ours"].append(time_ours(settings, sources))
            check_and_clear(server, "ours", sizes)
            times["ours, SHA-256 known"].append(time_ours(settings, sources, known))
            for folder in ("curl", "ours"):
                check_and_clear(server, folder, sizes)
    finally:
        server.stop()
        shutil.rmtree(work / "ftpd", ignore_errors=True)

    mb = size / 1e6
    ratios = [c / o for c, o in zip(times["curl"], times["ours"])]
    known_ratios = [c / o for c, o in zip(times["curl"], times["ours, SHA-256 known"])]
    result = {
        "files": sizes,
        "size_bytes": size,
        "rounds": args.rounds,
        "mb_per_s": {name: [round(mb / t, 1) for t in values] for name, values in times.items()},
        "median_mb_per_s": {name: round(mb / statistics.median(values), 1) for name, values in times.items()},
        "ratio_per_round": [round(r, 3) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_sha256_known_per_round": [round(r, 3) for r in known_ratios],
        "ratio_sha256_known_median": round(statistics.median(known_ratios), 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{len(sources)} file(s), {size / MIB:.0f} MiB, {args.rounds} rounds, loopback pyftpdlib FTPS "
          "(session reuse required)")
    for name, values in result["mb_per_s"].items():
        median = result["median_mb_per_s"][name]
        print(f"  {name:<19}  median {median:7.1f} MB/s   rounds: {', '.join(f'{v:.1f}' for v in values)}")
    print(f"ratio ours / curl --ssl-reqd -T: median {result['ratio_median']:.3f} (per round: {result['ratio_per_round']})")
    print(f"  with the SHA-256 known: median {result['ratio_sha256_known_median']:.3f} "
          f"(per round: {result['ratio_sha256_known_per_round']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
