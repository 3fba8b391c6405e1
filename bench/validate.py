"""Benchmark: how fast `stackyard validate` is, next to docker-compose 1.29.2 `config -q`.

Run: `python3 bench/validate.py [--runs N]`. Prints
1. whole-process `stackyard validate` time on a generated 50-service stack (median of N runs),
   and `docker-compose config -q` on the same file when Debian's docker-compose is installed,
   with the ratio (target: stackyard <= 0.25 x docker-compose);
2. in-process load time per corpus file (median, p90, max, total) over ../shared/corpus.
Nothing here asserts: it prints numbers for the issue's closing note.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generated_stack(services: int = 50) -> str:
    """A realistic 50-service stack: ports, volumes, env, healthchecks, depends_on, networks."""
    lines = ["services:"]
    for i in range(services):
        lines += [
            f"  svc{i}:",
            f"    image: registry.example.test/team/app{i}:1.{i}",
            f"    command: [\"serve\", \"--port\", \"{8000 + i}\"]",
            "    environment:",
            f"      SERVICE_INDEX: \"{i}\"",
            "      LOG_LEVEL: ${LOG_LEVEL:-info}",
            f"    ports: [\"127.0.0.1:{10000 + i}:{8000 + i}\"]",
            f"    volumes: [\"data{i}:/var/lib/app\", \"./conf/app{i}.conf:/etc/app.conf:ro\"]",
            "    networks: [front, back]",
            "    healthcheck:",
            "      test: [\"CMD\", \"true\"]",
            "      interval: 30s",
            "      timeout: 5s",
            "      retries: 3",
            "    restart: unless-stopped",
            "    labels:",
            f"      team: t{i % 5}",
        ]
        if i:
            lines += ["    depends_on:", f"      svc{i - 1}:", "        condition: service_started"]
    lines += ["networks:", "  front: {}", "  back: {internal: true}", "volumes:"]
    lines += [f"  data{i}: {{}}" for i in range(services)]
    return "\n".join(lines) + "\n"


def time_command(argv: list[str], cwd: str, runs: int) -> float | None:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        timings.append(time.perf_counter() - start)
        if proc.returncode != 0:
            print(f"  ! {' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[:300]}")
            return None
    return statistics.median(timings)


def whole_process(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "compose.yaml").write_text(generated_stack())
        # The console script beside this interpreter: a version-manager shim (pyenv's is a
        # bash script costing ~60 ms) would be measured instead of stackyard otherwise.
        beside = os.path.join(os.path.dirname(sys.executable), "stackyard")
        stackyard = beside if os.access(beside, os.X_OK) else shutil.which("stackyard")
        ours = [stackyard] if stackyard else [sys.executable, "-m", "orchestrator.cli.app"]
        mine = time_command(ours + ["validate"], tmp, runs)
        print(f"whole process, 50-service stack, median of {runs}:")
        print(f"  stackyard validate          {mine * 1000:8.1f} ms" if mine else "  stackyard validate failed")
        theirs = shutil.which("docker-compose")
        if theirs:
            ref = time_command([theirs, "config", "-q"], tmp, runs)
            if ref:
                print(f"  docker-compose config -q    {ref * 1000:8.1f} ms")
                if mine:
                    print(f"  ratio stackyard/docker-compose: {mine / ref:.3f} (target <= 0.25)")
        else:
            print("  docker-compose not installed (apt-get install docker-compose) - no comparison")


def corpus_in_process() -> None:
    from orchestrator.errors import StackFileError
    from orchestrator.loader import LoadOptions, load_stack
    from tests.corpus.corpus import lay_out, load_manifest, shared_dir, stub_environment

    shared = shared_dir()
    if shared is None:
        print("corpus: ../shared/corpus not found - skipped")
        return
    cases = load_manifest(shared)
    timings = []
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            files = lay_out(case, cases, shared, Path(tmp))
            options = LoadOptions(files=tuple(files), cwd=tmp, environ=stub_environment(case),
                                  consistency=case.scope == "full",
                                  validate_schema=case.scope != "no-validation")
            start = time.perf_counter()
            try:
                load_stack(options)
            except StackFileError:
                pass
            timings.append(time.perf_counter() - start)
    timings.sort()
    print(f"in process, {len(timings)} corpus files: median {statistics.median(timings) * 1000:.2f} ms, "
          f"p90 {timings[int(len(timings) * 0.9)] * 1000:.2f} ms, max {timings[-1] * 1000:.2f} ms, "
          f"total {sum(timings):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    whole_process(args.runs)
    corpus_in_process()


if __name__ == "__main__":
    main()
