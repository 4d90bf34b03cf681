"""SFTP upload throughput: our SftpDestination against OpenSSH's `sftp` client, same file, same server.

Starts a throwaway OpenSSH sshd on a loopback port (tests/python/sshd.py), writes a file of random
bytes, then alternates `sftp -b` (batch mode, generated key and known_hosts) and SftpDestination
for several rounds and prints both throughputs and their ratio (median of the per-round ratios).

    python bench/sftp_throughput.py                 # 1 GiB, 3 rounds
    python bench/sftp_throughput.py --size 256M --rounds 5 --json
    python bench/sftp_throughput.py --levers        # also: each speed lever turned off, stock paramiko put
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT))

import paramiko  # noqa: E402

from runner.deliver import Upload  # noqa: E402
from runner.deliver.sftp.destination import SftpDestination  # noqa: E402
from runner.deliver.sftp.settings import SftpDestinationSettings  # noqa: E402
from runner.deliver.sftp.wire import Tuning  # noqa: E402
from sshd import SshServer, sshd_missing_reason  # noqa: E402

MIB = 1024 * 1024


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def make_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    block = os.urandom(4 * MIB)
    with open(path, "wb") as out:
        left = size
        while left:
            left -= out.write(block[: min(left, len(block))])


def time_openssh(server: SshServer, source: Path, remote: str, work: Path, extra: list[str]) -> float:
    batch = work / "batch.txt"
    batch.write_text(f"put {source} {remote}\n")
    started = time.perf_counter()
    subprocess.run(server.sftp_command(batch, extra), check=True, capture_output=True)
    return time.perf_counter() - started


def time_ours(settings: SftpDestinationSettings, source: Path, name: str, tuning: Tuning) -> float:
    # Connecting and logging in are timed too, as they are for the sftp command.
    started = time.perf_counter()
    with SftpDestination(settings, tuning=tuning) as destination:
        destination.deliver_one(Upload(source, name))
    return time.perf_counter() - started


def time_stock_paramiko(server: SshServer, source: Path, remote: str) -> float:
    started = time.perf_counter()
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.write_known_hosts()))
    client.connect(
        "127.0.0.1", server.port, server.user, key_filename=str(server.client_key),
        allow_agent=False, look_for_keys=False,
    )
    try:
        client.open_sftp().put(str(source), remote)
    finally:
        client.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="file size, e.g. 1G, 256M (default 1G)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new one under /tmp)")
    parser.add_argument("--levers", action="store_true", help="also time each speed lever switched off")
    parser.add_argument("--openssh-cipher", help="pass -c CIPHER to OpenSSH sftp (default: its own choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()

    reason = sshd_missing_reason()
    if reason:
        print(f"cannot benchmark: {reason}", file=sys.stderr)
        return 2
    size = parse_size(args.size)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sftp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "payload.bin"
    make_file(source, size)
    extra = ["-c", args.openssh_cipher] if args.openssh_cipher else []

    with SshServer(work / "sshd") as server:
        settings = SftpDestinationSettings(
            host="127.0.0.1", port=server.port, username=server.user, remote_dir=server.remote_upload_dir,
            key_file=server.client_key, known_hosts=server.write_known_hosts(), use_agent=False,
        )
        remote_openssh = f"{server.remote_upload_dir}/openssh.bin"
        variants: dict[str, object] = {"ours": Tuning()}
        if args.levers:
            base = Tuning()
            variants.update(
                {
                    "no TCP_NODELAY": replace(base, tcp_nodelay=False),
                    "no AES-GCM preference (paramiko default aes128-ctr)": replace(base, prefer_gcm=False),
                    "32 KiB writes (ignore limits@openssh.com)": replace(base, use_limits=False),
                    "paramiko SFTPFile pipelined writes": replace(base, direct_writes=False),
                    "stock paramiko SFTPClient.put": "stock",
                }
            )
        times: dict[str, list[float]] = {"openssh": [], **{name: [] for name in variants}}
        for _ in range(args.rounds):
            times["openssh"].append(time_openssh(server, source, remote_openssh, work, extra))
            for name, tuning in variants.items():
                if tuning == "stock":
                    times[name].append(time_stock_paramiko(server, source, f"{server.remote_upload_dir}/stock.bin"))
                else:
                    times[name].append(time_ours(settings, source, f"{name[:8].replace(' ', '_')}.bin", tuning))
            for leftover in server.upload_dir.iterdir():
                leftover.unlink()

    mb = size / 1e6
    ratios = [o / t for o, t in zip(times["openssh"], times["ours"])]
    result = {
        "size_bytes": size,
        "rounds": args.rounds,
        "openssh_cipher": args.openssh_cipher or "default",
        "mb_per_s": {name: [round(mb / t, 1) for t in values] for name, values in times.items()},
        "median_mb_per_s": {name: round(mb / statistics.median(values), 1) for name, values in times.items()},
        "ratio_per_round": [round(r, 3) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"file: {size / MIB:.0f} MiB, {args.rounds} rounds, OpenSSH cipher: {result['openssh_cipher']}")
    width = max(len(name) for name in times)
    for name, values in result["mb_per_s"].items():
        median = result["median_mb_per_s"][name]
        print(f"  {name:<{width}}  median {median:7.1f} MB/s   rounds: {', '.join(f'{v:.1f}' for v in values)}")
    print(f"ratio ours / OpenSSH sftp: median {result['ratio_median']:.3f} (per round: {result['ratio_per_round']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
