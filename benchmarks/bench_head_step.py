"""What one step of the side-by-side head search costs, with the candidates sharing one input mask or each drawing
its own, against the step's matmul floor.

    python benchmarks/bench_head_step.py                        # resnet50 and mobilenetv2 heads, 1-3 candidates
    python benchmarks/bench_head_step.py --models vgg16 --rows 8192

For each backbone's head (its own layers, on random non-negative features of its width), HeadSearch trains 1 and
5 epochs with patience off; the difference over 4 is one epoch without tracing or validation (best of two).
Prints ms per step for each candidate count both ways, their ratio, and the floor: the first Dense layer's forward
product and weight gradient per candidate at this CPU's measured float32 matmul rate.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

RATES = (1e-4, 1e-3, 1e-2)  # the fair recipe's candidates (recipes.HEAD_LRS)


def step_ms(spec, features, labels, candidates, shared_mask, batch_size):
    """Milliseconds per training step of a search with this many candidates, tracing and validation excluded. The
    features are made aligned first, as the feature cache makes them, so the search gathers its batches in the graph
    as it does in a run."""
    from transferbench.feature_cache import aligned_rows
    from transferbench.head_search import HeadSearch
    from transferbench.modeling import build_head

    features = aligned_rows(features, slice(None))
    val = (features[:1024], labels[:1024])

    def seconds(epochs):
        head = build_head(spec, features.shape[1], 10)
        search = HeadSearch(
            head,
            RATES[:candidates],
            epochs=epochs,
            patience=0,
            batch_size=batch_size,
            seed=0,
            shared_mask=shared_mask,
            verbose=False,
        )
        search.fit((features, labels), val)
        if not search.gathered_in_graph_:
            raise RuntimeError("the search fell back to NumPy gathering, which runs no longer do")
        return search.train_seconds_

    steps = -(-len(labels) // batch_size)
    return min(seconds(5) - seconds(1) for _ in range(2)) / 4 / steps * 1e3


def main():
    """Time each head both ways; the last line gives the three-candidate ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50,mobilenetv2", help="backbones (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=32768, help="training rows per epoch (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=128, help="the search's batch (default: %(default)s)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_heads import first_layer, step_multiply_adds
    from machine import cpu_model, matmul_rate

    from transferbench.backbones import BACKBONES

    rate = matmul_rate()
    print(f"CPU: {cpu_model()}; float32 matmul {rate / 1e9:.1f} G multiply-adds/s")
    print(f"{'backbone':<12} {'candidates':>10} {'own masks ms':>12} {'shared ms':>9} {'ratio':>6} {'floor ms':>8}")
    ratios = []
    rng = np.random.default_rng(0)
    for name in args.models.split(","):
        spec = BACKBONES[name]
        width, units = first_layer(name, 32)
        features = np.maximum(rng.normal(size=(args.rows, width)), 0).astype(np.float32)
        labels = rng.integers(0, 10, args.rows).astype(np.int32)
        for candidates in (1, 2, 3):
            own, shared = (step_ms(spec, features, labels, candidates, s, args.batch_size) for s in (False, True))
            floor = candidates * step_multiply_adds(width, units, args.batch_size) / rate * 1e3
            print(
                f"{name:<12} {candidates:>10} {own:12.2f} {shared:9.2f} {own / shared:5.2f}x {floor:8.2f}", flush=True
            )
        ratios.append(f"{name} {own / shared:.2f}x")
    print("shared input mask vs own masks, 3 candidates: " + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
