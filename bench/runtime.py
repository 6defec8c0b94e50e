"""The local runtime's cost, as ratios against the plain stdlib in the same run.

    .venv/bin/python bench/runtime.py [--commands 200] [--files 50]

Prints: the round trip of ``true`` through ``AgentConnection.exec`` (a shell in its own
process group, output collected, exit code read) against ``subprocess.run(["true"])`` and
against ``subprocess.run(["bash", "-c", "true"])``; and 1 MiB ``write`` (atomic, via a temp
file and rename) and ``read`` against ``open().write()``/``open().read()``.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coderproject.settings")
os.environ.setdefault("CODER_DATA_DIR", tempfile.mkdtemp(prefix="coder-bench-"))

import django  # noqa: E402

django.setup()

from workspaces.runtime.local import SHELL, LocalAgentConnection  # noqa: E402

MIB = 1024 * 1024


async def interleaved(functions: dict[str, object], repeat: int) -> dict[str, list[float]]:
    """Time each function ``repeat`` times, alternating between them so that a change in
    the machine's load hits every one alike (async functions are awaited)."""
    samples: dict[str, list[float]] = {label: [] for label in functions}
    for _ in range(repeat):
        for label, function in functions.items():
            started = time.perf_counter()
            outcome = function()
            if asyncio.iscoroutine(outcome):
                await outcome
            samples[label].append(time.perf_counter() - started)
    return samples


def row(label: str, samples: list[float], reference: list[float] | None = None, unit: str = "ms") -> None:
    median = statistics.median(samples)
    p90 = sorted(samples)[int(len(samples) * 0.9) - 1]
    ratio = f"  ratio {median / statistics.median(reference):.2f}x" if reference else ""
    print(f"  {label:<44} median {median * 1000:8.3f} {unit}  p90 {p90 * 1000:8.3f} {unit}{ratio}")


async def main(commands: int, files: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="coder-bench-home-"))
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "CODER": "true", "CODER_WORKSPACE_ID": "bench"}
    conn = LocalAgentConnection(root=root, env=env, workspace_id="bench")

    print(f"Command round trip ({commands} runs each, alternating, shell {SHELL}):")

    async def runtime_true() -> None:
        result = await conn.exec("true", timeout_s=10)
        assert result.exit_code == 0

    shell = Path(SHELL).name
    timings = await interleaved(
        {
            "direct": lambda: subprocess.run(["true"], check=True),
            "shell": lambda: subprocess.run([SHELL, "-c", "true"], check=True),
            "runtime": runtime_true,
        },
        commands,
    )
    direct, via_shell, runtime = timings["direct"], timings["shell"], timings["runtime"]
    row('subprocess.run(["true"])  (reference)', direct)
    row(f'subprocess.run(["{shell}", "-c", "true"])', via_shell, direct)
    row('runtime exec("true")', runtime, direct)
    overhead = statistics.median(runtime) / statistics.median(via_shell)
    print(f"  runtime vs the same shell by subprocess.run: {overhead:.2f}x")

    payload = os.urandom(MIB)
    plain = root / "plain.bin"

    def plain_write() -> None:
        with open(plain, "wb") as file:
            file.write(payload)

    def plain_read() -> None:
        with open(plain, "rb") as file:
            assert len(file.read()) == MIB

    async def runtime_write() -> None:
        await conn.write("dir/runtime.bin", payload)

    async def runtime_read() -> None:
        assert len(await conn.read("dir/runtime.bin")) == MIB

    print(f"1 MiB files ({files} runs each, alternating):")
    plain_write()
    await runtime_write()
    timings = await interleaved(
        {
            "plain_write": plain_write,
            "runtime_write": runtime_write,
            "plain_read": plain_read,
            "runtime_read": runtime_read,
        },
        files,
    )
    plain_writes, runtime_writes = timings["plain_write"], timings["runtime_write"]
    plain_reads, runtime_reads = timings["plain_read"], timings["runtime_read"]
    row("open().write()  (reference)", plain_writes)
    row("runtime write (atomic)", runtime_writes, plain_writes)
    row("open().read()  (reference)", plain_reads)
    row("runtime read", runtime_reads, plain_reads)
    for label, samples in (("write", runtime_writes), ("read", runtime_reads)):
        print(f"  runtime {label}: {1 / statistics.median(samples):.0f} MiB/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--files", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.commands, arguments.files))
