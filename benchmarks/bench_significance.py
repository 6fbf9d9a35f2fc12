"""How often a run's "significant" is wrong, and how often a real difference is found, at the seed counts people run.

    python benchmarks/bench_significance.py                  # 3, 5 and 10 seeds, 2,000 simulated grids each
    python benchmarks/bench_significance.py --seeds 3,20 --trials 5000

Each trial draws one paired difference per seed (model minus cnn, normal, sd 1 point) and asks the method whether
it is significant: transferbench's interval (stats.estimate: Student t over the seeds) and, for comparison, a 95%
percentile bootstrap of the mean (scipy, 9,999 resamples), which transferbench used before. With a true difference
of 0 the share called significant should be about 5%; with a true difference of one seed-sd it is the power.
"""

import argparse
import warnings

import numpy as np
from scipy import stats as scipy_stats


def bootstrap_significant(values):
    """Whether a 95% percentile bootstrap interval of the mean excludes 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy_stats.bootstrap(
            (values,), np.mean, confidence_level=0.95, n_resamples=9999, method="percentile", random_state=0
        )
    interval = result.confidence_interval
    return bool(interval.low > 0 or interval.high < 0)


def shares(seeds, trials, shift, rng):
    """Shares of trials called significant by transferbench's interval and by the percentile bootstrap."""
    from transferbench.stats import estimate

    draws = [rng.normal(shift, 0.01, seeds) for _ in range(trials)]
    ours = np.mean([estimate(values, difference=True).significant for values in draws])
    bootstrap = np.mean([bootstrap_significant(values) for values in draws])
    return ours, bootstrap


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="3,5,10", help="seed counts, comma-separated (default 3,5,10)")
    parser.add_argument("--trials", type=int, default=2000, help="simulated grids per seed count (default 2000)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print("true difference 0: share called significant (should be ~5%); 1 seed-sd: share found (power)")
    print(f"{'seeds':>5}  {'t, null':>8}  {'bootstrap, null':>15}  {'t, 1 sd':>8}  {'bootstrap, 1 sd':>15}")
    for seeds in (int(s) for s in args.seeds.split(",")):
        null = shares(seeds, args.trials, 0.0, rng)
        real = shares(seeds, args.trials, 0.01, rng)
        print(f"{seeds:>5}  {null[0]:>8.1%}  {null[1]:>15.1%}  {real[0]:>8.1%}  {real[1]:>15.1%}")


if __name__ == "__main__":
    main()
