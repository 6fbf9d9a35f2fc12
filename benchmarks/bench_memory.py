"""Peak memory (max RSS) and wall time of `transferbench run`, measured on a child process.

    python benchmarks/bench_memory.py                      # the full default experiment, --weights random
    python benchmarks/bench_memory.py --input-size 96      # the same at 96 px
    python benchmarks/bench_memory.py --train-limit 10000 --test-limit 2000 --input-size 96

Any flag not listed below is passed to `transferbench run` unchanged. The child's peak resident memory is
read from getrusage(RUSAGE_CHILDREN) after it exits (Linux reports KiB). The script also prints each row's
accuracy, training seconds and feature-extraction seconds as the run recorded them.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main():
    """Run one experiment in a child process and print its peak memory, wall time and time split."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--keep", "--out", dest="keep", metavar="DIR", help="run folder to keep (default: a temporary one)"
    )
    args, passthrough = parser.parse_known_args()
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_memory_")) / "run"
    if "--weights" not in passthrough:
        passthrough += ["--weights", "random"]
    command = [sys.executable, "-m", "transferbench.cli", "run", *passthrough, "--no-report", "--out", str(out)]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_model

    print(f"CPU: {cpu_model()}")
    print("running:", " ".join(command[2:]), flush=True)
    start = time.perf_counter()
    log = out.parent / "bench_memory.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    if code not in (0, 3):
        print(f"the run failed with exit code {code}; see {log}")
        return code
    record = json.loads((out / "results.json").read_text())
    sizes = record["dataset"]["sizes"]
    print(f"images: {sizes}; input size {record['config']['input_size']} px")
    for row in record["rows"]:
        acc = f"{row['test_accuracy']:.2%}" if row["test_accuracy"] is not None else "-"
        extract = row.get("feature_seconds") or 0.0
        print(
            f"  {row['name']:<18} {row['status']:<7} acc {acc:>7}  train {row['train_seconds'] or 0:7.1f} s  "
            f"features {extract:6.1f} s  engine {row.get('engine') or '-'}"
        )
    print(f"wall time: {wall:.0f} s ({wall / 60:.1f} min)")
    print(f"peak memory: {peak_gib:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
