"""How fast the command line answers when it has nothing to compute: --version, --help, each subcommand's --help
and a mistyped input path (issue 28, part 2: under 1 s). Each command runs in a fresh process, several times.

    python benchmarks/bench_cli_start.py [--repeat 5]

Prints the load average with the run, the min and median wall time of each command, and whether JAX was imported
(it must not be).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--version"], ["--help"], ["fit", "--help"], ["build", "--help"], ["estimate", "--help"],
    ["bandit", "--help"], ["suite", "estimate", "--help"], ["scaling", "chinchilla", "--help"],
    ["estimate", "/no/such.tjx", "/no/such.csv"], ["bandit", "/no/such.npy"],
    ["suite", "estimate", "openllm-v1", "/no/such/logs"],
]
_PROBE = ("import sys, tinyjax.cli as cli\ntry:\n  code = cli.main(sys.argv[1:])\nexcept SystemExit as e:\n"
          "  code = e.code\nsys.stderr.write('\\n@@' + ('JAX' if 'jax' in sys.modules else 'no-jax'))\n")


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--repeat", type=int, default=5, help="runs of each command")
  args = ap.parse_args()
  print(f"# load average at start: {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}; {os.cpu_count()} cores")
  print(f"{'tinyjax ...':<45} {'min s':>6} {'median s':>9}  jax imported")
  worst = 0.0
  for argv in COMMANDS:
    times, jax = [], set()
    for _ in range(args.repeat):
      t = time.perf_counter()
      out = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True)
      times.append(time.perf_counter() - t)
      jax.add(out.stderr.rsplit("@@", 1)[-1].strip())
    worst = max(worst, statistics.median(times))
    print(f"{' '.join(argv):<45} {min(times):6.2f} {statistics.median(times):9.2f}  {','.join(sorted(jax))}")
  print(f"# load average at end: {os.getloadavg()[0]:.2f}; slowest median {worst:.2f} s (target < 1 s)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
