"""How well a saved MNIST model reads tests/data/handwritten/ (digits as people make them): through `predict` with
the model's input convention, with --no-normalize (the whole picture resized, as before), and the same model on
the MNIST-normalised originals of those digits.

    python benchmarks/bench_handwriting.py RUN_DIR/models/cnn.keras
"""

import argparse
import csv
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from machine import cpu_model

import transferbench
from transferbench.data import load_dataset

HANDWRITTEN = Path(__file__).resolve().parent.parent / "tests" / "data" / "handwritten"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a saved model of an MNIST run (RUN_DIR/models/NAME.keras)")
    args = parser.parse_args()
    with open(HANDWRITTEN / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    files = [HANDWRITTEN / row["file"] for row in rows]
    labels = np.array([int(row["label"]) for row in rows])

    def accuracy(predictions):
        return float(np.mean([p.top is not None and int(p.top[0][0]) == y for p, y in zip(predictions, labels)]))

    normalized = accuracy(transferbench.predict(args.model, files))
    before = accuracy(transferbench.predict(args.model, files, normalize=False))
    model = transferbench.api.load_model(args.model)
    originals = load_dataset("mnist").x_test[[int(row["mnist_test_index"]) for row in rows]]
    reference = float(np.mean(model.predict(originals, verbose=0).argmax(axis=1) == labels))
    print(f"CPU: {cpu_model()}")
    print(f"{len(rows)} handwritten digits ({sum(r['kind'] == 'photo' for r in rows)} photos, the rest canvases)")
    print(f"predict (digit convention):          {normalized:.1%}")
    print(f"predict --no-normalize (as before):  {before:.1%}")
    print(f"the same digits, MNIST-normalised:   {reference:.1%}")
    print(f"gap to MNIST-normalised: {100 * (reference - normalized):+.1f} points (aim: within 5)")


if __name__ == "__main__":
    main()
