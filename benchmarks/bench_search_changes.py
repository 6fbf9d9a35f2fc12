"""What changes of the fair recipe's head search save and cost, measured against the search as the recipe runs it
(every candidate until its own patience ends it or it cannot catch the leader, in float32) on the same cached
features:

- race: keep only the leader (lowest validation loss so far) after N epochs, the issue's "stop a candidate as soon
  as it cannot win" by its simplest rule (HeadSearch(race_after=N));
- bf16: the head's hidden Dense layers compute in bfloat16, weights kept in float32 (build_head(hidden_dtype=
  'mixed_bfloat16')); fast where the CPU has AVX512_BF16 or AMX;
- plateau: one candidate instead of three, starting at the recipe's middle rate and cut tenfold to its lowest after
  2 epochs without a lower validation loss (HeadSearch(rate_drop=RateDrop(...)), as Keras's ReduceLROnPlateau);
- nocut: the search without the recipe's cannot-win cut (HeadSearch(cut_window=None)), only patience stopping a
  candidate: what the cut saves, and whether it changed the winner;
- cosine: the recipe's three rates, each decayed to 0 along a cosine over a shorter epoch cap (`--cap`, patience
  and the cut as in the recipe): a schedule that converges in fewer epochs;
- numpyfeed: each chunk of batches gathered by NumPy and copied into a tensor, as the search did before
  2026-11-30 (HeadSearch(gather_in_graph=False)); the same batches, so the same results: what gathering in the
  graph from a tensor sharing the features' memory saves.

    python benchmarks/bench_search_changes.py --models resnet50                 # race after 5 epochs
    python benchmarks/bench_search_changes.py --change bf16 --models resnet50,mobilenetv2 --work DIR
    python benchmarks/bench_search_changes.py --change cosine --cap 30 --models vgg16,resnet50,mobilenetv2

Runs `transferbench run --recipe fair --fine-tune none --weights random` in child processes on one feature cache:
as the recipe does (it extracts the features, unless `--work` holds a cache with them), then the same run with the
change. Prints, per backbone, its feature pass, each search's seconds, chosen rate, candidate epochs and test
accuracy, and seconds per candidate-epoch; the last line gives the change's speed-up and accuracy change. No
change is the recipe: they measure what it would give up or gain (nocut and numpyfeed: what the recipe's way
gains).
"""

import argparse
import functools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_heads import extraction_text, head_seconds, run  # noqa: E402

CHANGES = ("race", "bf16", "plateau", "nocut", "cosine", "numpyfeed")


def child(change, number, argv):
    """The CLI with every head search changed (number: the race's epochs or the cosine's cap)."""
    from transferbench import cli, modeling, rows
    from transferbench.head_search import HeadSearch

    if change == "race":
        rows.HeadSearch = functools.partial(HeadSearch, race_after=number)
    elif change == "plateau":
        rows.HeadSearch = scheduled_search
    elif change == "nocut":
        rows.HeadSearch = uncut_search
    elif change == "cosine":
        rows.HeadSearch = functools.partial(cosine_search, cap=number)
    elif change == "numpyfeed":
        rows.HeadSearch = functools.partial(HeadSearch, gather_in_graph=False)
    else:
        modeling.build_head = functools.partial(modeling.build_head, hidden_dtype="mixed_bfloat16")
    return cli.main(argv)


def scheduled_search(head, learning_rates, **settings):
    """One candidate at the middle of the recipe's rates, cut tenfold on a 2-epoch plateau down to the lowest."""
    from transferbench.head_search import HeadSearch, RateDrop

    rates = sorted(learning_rates)
    drop = RateDrop(patience=2, factor=0.1, min_rate=rates[0])
    return HeadSearch(head, (rates[len(rates) // 2],), rate_drop=drop, **{**settings, "cut_window": None})


def cosine_search(head, learning_rates, *, cap, **settings):
    """The recipe's search with each rate decayed along a cosine to 0 at epoch `cap`, which is the search's cap (the
    fast recipe's search, at any cap)."""
    from transferbench.head_search import HeadSearch

    return HeadSearch(head, learning_rates, **{**settings, "epochs": cap, "decay": "cosine"})


def uncut_search(head, learning_rates, **settings):
    """The recipe's search with patience alone stopping candidates."""
    from transferbench.head_search import HeadSearch

    return HeadSearch(head, learning_rates, **{**settings, "cut_window": None})


def candidate_epochs(row):
    """Epochs each candidate of the row's search trained, by rate (one entry when the search had one rate)."""
    return row["lr_epochs"] or {f"{row['learning_rate']:g}": row["epochs_run"]}


def per_epoch(row):
    """Seconds per candidate-epoch of the row's search (its seconds over the epochs all its candidates trained)."""
    return head_seconds(row) / sum(candidate_epochs(row).values())


def describe(row):
    """Seconds, chosen rate, each candidate's epochs, test accuracy and seconds per candidate-epoch of a search."""
    epochs = "/".join(str(n) for n in candidate_epochs(row).values())
    rate, accuracy = row["learning_rate"], row["test_accuracy"]
    return f"{head_seconds(row):8.1f} {rate:6g} {epochs:>9} {accuracy:7.2%} {per_epoch(row):6.2f}"


def main():
    """Search both ways on the same features and print the comparison."""
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--change", choices=CHANGES, default="race", help="default: %(default)s")
    parser.add_argument("--models", default="resnet50", help="backbones (default: %(default)s)")
    parser.add_argument("--race-after", type=int, default=5, help="epochs before the race (default: %(default)s)")
    parser.add_argument("--cap", type=int, default=30, help="cosine: its epoch cap (default: %(default)s)")
    parser.add_argument("--work", metavar="DIR", help="folder for the runs and the cache (default: a temporary one)")
    args, passthrough = parser.parse_known_args()
    if args.race_after < 1 or args.cap < 1:
        parser.error("--race-after and --cap must be at least 1")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_search_changes_"))
    work.mkdir(parents=True, exist_ok=True)
    from machine import cpu_model

    print(f"CPU: {cpu_model()}")
    passthrough += ["--models", args.models]
    names = args.models.split(",")
    labels = {
        "race": f"race after {args.race_after} epochs",
        "bf16": "bf16 hidden layers",
        "plateau": "one rate, cut",
        "cosine": f"cosine to 0 at epoch {args.cap}",
        "nocut": "without the cut",
        "numpyfeed": "batches gathered by NumPy",
    }
    label = labels[args.change]
    recipe = run(work / "recipe", work / "cache", "side-by-side", passthrough)
    number = args.cap if args.change == "cosine" else args.race_after
    program = (str(Path(__file__).resolve()), "--child", args.change, str(number))
    changed = run(work / args.change, work / "cache", "side-by-side", passthrough, program)
    print(f"{'':<12} {'':>9} | {'as the recipe runs it':^40} | {label:^40}")
    header = f"{'seconds':>8} {'lr':>6} {'epochs':>9} {'acc':>7} {'s/ep':>6}"
    print(f"{'backbone':<12} {'extract':>9} | {header} | {header}")
    for name in names:
        print(f"{name:<12} {extraction_text(recipe[name]):>9} | {describe(recipe[name])} | {describe(changed[name])}")
    changes = (
        f"{n} {head_seconds(recipe[n]) / head_seconds(changed[n]):.2f}x faster "
        f"({per_epoch(recipe[n]) / per_epoch(changed[n]):.2f}x per candidate-epoch), "
        f"{(changed[n]['test_accuracy'] - recipe[n]['test_accuracy']) * 100:+.2f} points"
        for n in names
    )
    print(f"{label} vs the recipe's search: " + "; ".join(changes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
