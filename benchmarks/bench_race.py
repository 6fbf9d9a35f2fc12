"""What stopping slow starters would save and cost the fair recipe's head search: the search as the recipe runs it
(every candidate until its own patience ends it) against a race that keeps only the leader after N epochs, on the
same cached features.

    python benchmarks/bench_race.py --models resnet50                  # all of MNIST, random weights, seed 42
    python benchmarks/bench_race.py --race-after 10 --models resnet50,mobilenetv2 --work DIR

Runs `transferbench run --recipe fair --fine-tune none --weights random` in child processes on one feature cache:
side by side as the recipe does (it extracts the features, unless `--work` holds a cache with them), then the same
run with HeadSearch(race_after=N). Prints, per backbone, its feature pass, each search's seconds, chosen rate,
candidate epochs and test accuracy; the last line gives the race's speed-up and accuracy change. The race is not a
recipe: it measures the issue's "stop a candidate as soon as it cannot win" with the simplest such rule.
"""

import argparse
import functools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_heads import extraction_text, head_seconds, run  # noqa: E402


def child(race_after, argv):
    """The CLI with every head search racing after `race_after` epochs."""
    from transferbench import cli, rows
    from transferbench.head_search import HeadSearch

    rows.HeadSearch = functools.partial(HeadSearch, race_after=race_after)
    return cli.main(argv)


def describe(row):
    """Seconds, chosen rate, each candidate's epochs and test accuracy of a row's search."""
    epochs = "/".join(str(n) for n in row["lr_epochs"].values())
    return f"{head_seconds(row):8.1f} {row['learning_rate']:6g} {epochs:>9} {row['test_accuracy']:7.2%}"


def main():
    """Search both ways on the same features and print the comparison."""
    if sys.argv[1:2] == ["--child"]:
        return child(int(sys.argv[2]), sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50", help="backbones (default: %(default)s)")
    parser.add_argument("--race-after", type=int, default=5, help="epochs before the race (default: %(default)s)")
    parser.add_argument("--work", metavar="DIR", help="folder for the runs and the cache (default: a temporary one)")
    args, passthrough = parser.parse_known_args()
    if args.race_after < 1:
        parser.error("--race-after must be at least 1")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_race_"))
    work.mkdir(parents=True, exist_ok=True)
    from machine import cpu_model

    print(f"CPU: {cpu_model()}")
    passthrough += ["--models", args.models]
    names = args.models.split(",")
    recipe = run(work / "side_by_side", work / "cache", "side-by-side", passthrough)
    program = (str(Path(__file__).resolve()), "--child", str(args.race_after))
    race = run(work / f"race_{args.race_after}", work / "cache", "side-by-side", passthrough, program)
    print(f"{'':<12} {'':>9} | {'as the recipe runs it':^33} | {f'race after {args.race_after} epochs':^33}")
    header = f"{'seconds':>8} {'lr':>6} {'epochs':>9} {'acc':>7}"
    print(f"{'backbone':<12} {'extract':>9} | {header} | {header}")
    for name in names:
        print(f"{name:<12} {extraction_text(recipe[name]):>9} | {describe(recipe[name])} | {describe(race[name])}")
    changes = (
        f"{n} {head_seconds(recipe[n]) / head_seconds(race[n]):.2f}x faster, "
        f"{(race[n]['test_accuracy'] - recipe[n]['test_accuracy']) * 100:+.2f} points"
        for n in names
    )
    print(f"race after {args.race_after} epochs vs the recipe's search: " + "; ".join(changes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
