"""Run every benchmark, one after another, each printing its own table.

    python bench/run_all.py            # all of them
    python bench/run_all.py engine ui  # a selection

Each measures its targets as ratios against a baseline taken in the same run, since this
kind of machine is shared and noisy. The adapter evidence (bench/adapter_eval.py) is not
included: it is an experiment of several minutes, not a speed check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "engine": "bench_engine.py",
    "sampler": "bench_sampler.py",
    "shift": "bench_shift.py",
    "ui": "bench_ui.py",
    "lessons": "bench_lessons.py",
    "remote": "bench_remote.py",
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHES)
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n===== {name} ({BENCHES[name]}) =====", flush=True)
        if subprocess.run([sys.executable, str(HERE / BENCHES[name])]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
