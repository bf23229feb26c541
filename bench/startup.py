"""Start-up times of the ziptie command and package.

Runs each command in a fresh Python process several times and reports the
median and the best wall-clock time, side by side in one run:

    python bench/startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "import ziptie": [sys.executable, "-c", "import ziptie"],
    "ziptie --help": [str(BIN / "ziptie"), "--help"],
    "import torch (for scale)": [sys.executable, "-c", "import torch"],
}


def measure(command: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if not shutil.which(COMMANDS["ziptie --help"][0]):
        sys.exit("install the course first: make")
    print("| command | median (s) | best (s) |\n| --- | --- | --- |")
    for name, command in COMMANDS.items():
        measure(command, 1)  # warm the file cache
        times = measure(command, args.repeat)
        print(f"| {name} | {statistics.median(times):.3f} | "
              f"{min(times):.3f} |")


if __name__ == "__main__":
    main()
