"""Where one step of the fair recipe's head search goes, and how cheap a step can get: the step written out in plain
TensorFlow ops, then made cheaper one part at a time, each against the search as it runs.

    python benchmarks/bench_step_parts.py                                   # resnet50's head
    python benchmarks/bench_step_parts.py --models resnet50,mobilenetv2 --candidate-epochs resnet50=57,27,11

Each backbone's head (its own layers from the registry, on random non-negative features of its width) takes steps
of `--batch-size` rows, 64 per graph call; a figure is the best of 5 calls. The ladder of steps:

- the search: HeadSearch as the recipe runs it (bench_head_step.py's measurement);
- plain float32: the same layers and fused Adam in plain ops, input dropout shared, masks from TensorFlow's Philox;
- the same compiled by XLA (`jit_compile=True`), to see whether fusing the small ops pays on this CPU;
- bit masks: every dropout mask from random bits instead of one uniform float per unit (exact for rate 0.5; other
  rates rounded to 1/256), the same distribution drawn with far fewer random numbers;
- bfloat16 products: as bit masks, with every Dense product in bfloat16 (float32 weights; this changes numbers);
- without Adam: not a recipe, only the optimizer's share;
- the first layer's products alone, float32 and bfloat16: the arithmetic floor.

For the candidate epochs given (each learning rate's epochs, as results.json's lr_epochs), each row also gives what
the search would take at that step's cost, counting nothing but steps (the last column, to set against the pass).
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np

STEPS_PER_CALL = 64
TRAIN_ROWS = 54_000  # all of MNIST's training images less the recipe's 10% validation split
# epochs of the candidates 1e-4, 1e-3, 1e-2 in the full default run on a Sapphire Rapids Xeon (docs/memory.md)
CANDIDATE_EPOCHS = {"vgg16": (87, 34, 22), "resnet50": (100, 24, 20), "mobilenetv2": (21, 25, 15)}


def dropout_mask(generator, shape, rate, bits):
    """A float mask that keeps a unit with probability 1 - rate, scaled by 1 / (1 - rate): from one uniform float per
    unit (Keras's way) or, with bits, from random bits (one bit per unit at rate 0.5, else one byte)."""
    import tensorflow as tf

    if not bits:
        return tf.cast(generator.uniform(shape) >= rate, tf.float32) / (1 - rate)
    units = shape[0] * shape[1]
    per_draw, width, threshold = (32, 1, 1) if rate == 0.5 else (4, 8, round(rate * 256))
    draws = generator.uniform_full_int([units // per_draw], dtype=tf.int32)
    shifts = tf.range(per_draw) * width
    parts = tf.bitwise.bitwise_and(tf.bitwise.right_shift(draws[:, None], shifts[None, :]), 2**width - 1)
    return tf.cast(tf.reshape(parts, shape) >= threshold, tf.float32) / (1 - rate)


class PlainHead:
    """One candidate's head as variables: a Dense kernel and bias per dense layer, gamma and beta (and moving
    statistics) per batchnorm, the output layer, and the search's fused Adam over them."""

    def __init__(self, spec, width, classes, seed):
        import tensorflow as tf

        from transferbench.head_search import FusedAdam

        init = tf.keras.initializers.GlorotUniform(seed=seed)
        self.layers, self.variables, fan_in = [], [], width
        for kind, value in (*spec.head, ("output", classes)):
            if kind in ("dense", "output"):
                kernel, bias = tf.Variable(init((fan_in, value))), tf.Variable(tf.zeros([value]))
                self.layers.append((kind, (kernel, bias)))
                self.variables += [kernel, bias]
                fan_in = value
            elif kind == "batchnorm":
                gamma, beta = tf.Variable(tf.ones([fan_in])), tf.Variable(tf.zeros([fan_in]))
                moving = (tf.Variable(tf.zeros([fan_in])), tf.Variable(tf.ones([fan_in])))
                self.layers.append((kind, (gamma, beta, *moving)))
                self.variables += [gamma, beta]
            else:
                self.layers.append((kind, value))
        self.optimizer = FusedAdam(self.variables, 1e-3)  # the search's own Adam

    def logits(self, x, generator, bits, product_dtype, skip_leading_dropout):
        """The head in training mode; its leading dropout is skipped when the caller applied a shared one."""
        import tensorflow as tf

        for i, (kind, value) in enumerate(self.layers):
            if kind == "dropout" and not (skip_leading_dropout and i == 0):
                x = x * dropout_mask(generator, [x.shape[0], x.shape[1]], value, bits)
            elif kind in ("dense", "output"):
                kernel, bias = value
                x = tf.cast(tf.matmul(tf.cast(x, product_dtype), tf.cast(kernel, product_dtype)), tf.float32) + bias
                x = tf.nn.relu(x) if kind == "dense" else x
            elif kind == "batchnorm":
                gamma, beta, moving_mean, moving_var = value
                mean, var = tf.nn.moments(x, [0])
                moving_mean.assign(0.99 * moving_mean + 0.01 * mean)
                moving_var.assign(0.99 * moving_var + 0.01 * var)
                x = tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)
        return x


def plain_step_ms(spec, x, y, candidates, *, bits, product_dtype, adam, batch_size, xla=False):
    """Milliseconds per step of `candidates` plain heads trained side by side on one shared input mask; xla: the
    64-step call compiled by XLA (jit_compile)."""
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(0)
    heads = [PlainHead(spec, x.shape[1], 10, seed) for seed in range(candidates)]
    leading = spec.head[0][1] if spec.head[0][0] == "dropout" else None

    @tf.function(jit_compile=xla)
    def steps(x, y):
        total = tf.constant(0.0)
        batches_x, batches_y = tf.reshape(x, [-1, batch_size, x.shape[1]]), tf.reshape(y, [-1, batch_size])
        for step in tf.range(STEPS_PER_CALL):
            xb, yb = batches_x[step], batches_y[step]  # static shapes: XLA needs them (a range slice is dynamic)
            with tf.GradientTape() as tape:
                shared = xb * dropout_mask(generator, [batch_size, x.shape[1]], leading, bits) if leading else xb
                losses = [
                    tf.reduce_mean(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(
                            yb, head.logits(shared, generator, bits, product_dtype, leading is not None)
                        )
                    )
                    for head in heads
                ]
                loss = tf.add_n(losses)
            grads = tape.gradient(loss, [head.variables for head in heads])
            for head, head_grads in zip(heads, grads):
                if adam:
                    head.optimizer.apply(head_grads)
                else:  # keep the gradients alive without updating anything
                    total += tf.add_n([tf.reduce_sum(g[..., :1]) for g in head_grads])
            total += loss
        return total

    return best_call_ms(lambda: steps(x, y).numpy())


def products_ms(x, units, product_dtype, batch_size):
    """Milliseconds per step of the first Dense layer's forward product and weight gradient alone."""
    import tensorflow as tf

    kernel = tf.Variable(tf.random.normal([x.shape[1], units]) * 0.01)
    upstream = tf.random.normal([batch_size, units])

    @tf.function
    def steps(x):
        total = tf.constant(0.0)
        for step in tf.range(STEPS_PER_CALL):
            xb = tf.cast(x[step * batch_size : (step + 1) * batch_size], product_dtype)
            out = tf.matmul(xb, tf.cast(kernel, product_dtype))
            grad = tf.matmul(xb, tf.cast(upstream, product_dtype), transpose_a=True)
            total += tf.cast(out[0, 0] + grad[0, 0], tf.float32)
        return total

    return best_call_ms(lambda: steps(x).numpy())


def best_call_ms(call):
    """Milliseconds per step of the best of 5 calls (after one that traces)."""
    from machine import timed

    call()
    best = min(timed(call) for _ in range(5))
    return best / STEPS_PER_CALL * 1e3


def search_seconds(step_ms, candidate_epochs, steps_per_epoch):
    """Seconds a search takes whose steps cost step_ms[k] with k candidates running, for these epochs per candidate."""
    epochs = sorted(candidate_epochs, reverse=True)
    return sum(steps_per_epoch * step_ms[sum(e > epoch for e in epochs)] / 1e3 for epoch in range(epochs[0]))


def model_epochs(text):
    """(model, candidate epochs) from 'resnet50=100,24,20'."""
    name, _, epochs = text.partition("=")
    try:
        return name, tuple(int(e) for e in epochs.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODEL=E,E,E such as resnet50=100,24,20, not {text!r}") from None


def main():
    """Print the ladder for each head, with what the search would take at each rung's step."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50", help="backbones whose heads to time (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=128, help="the search's batch (default: %(default)s)")
    parser.add_argument(
        "--candidate-epochs",
        action="append",
        default=[],
        type=model_epochs,
        metavar="MODEL=E,E,E",
        help="epochs each learning rate ran in a full default run, for the search estimate; repeatable (default: "
        + ", ".join(f"{name}={','.join(map(str, e))}" for name, e in CANDIDATE_EPOCHS.items())
        + ", the run on a Sapphire Rapids Xeon in docs/memory.md)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tensorflow as tf
    from bench_head_step import step_ms
    from bench_heads import first_layer
    from machine import cpu_model, matmul_rate

    from transferbench.backbones import BACKBONES

    print(f"CPU: {cpu_model()}; float32 matmul {matmul_rate() / 1e9:.1f} G multiply-adds/s")
    candidate_epochs = {**CANDIDATE_EPOCHS, **dict(args.candidate_epochs)}
    steps_per_epoch = -(-TRAIN_ROWS // args.batch_size)
    rng = np.random.default_rng(0)
    for name in args.models.split(","):
        spec, epochs = BACKBONES[name], candidate_epochs.get(name)
        width, units = first_layer(name, 32)
        rows = STEPS_PER_CALL * args.batch_size
        features = np.maximum(rng.normal(size=(rows, width)), 0).astype(np.float32)
        labels = rng.integers(0, 10, rows).astype(np.int32)
        x, y = tf.constant(features), tf.constant(labels)
        print(f"\n{name}: head {' > '.join(f'{k} {v}' if v else k for k, v in spec.head)}, {width} features")
        print(f"{'step':<44} {'1 candidate ms':>14} {'3 candidates ms':>15} {'search s':>9}")
        ladder = {
            "the search (HeadSearch, feeding included)": [
                step_ms(spec, np.tile(features, (4, 1)), np.tile(labels, 4), k, True, args.batch_size) for k in (1, 3)
            ]
        }
        for label, options in (
            ("plain float32, Philox masks", dict(bits=False, product_dtype=tf.float32, adam=True)),
            ("as above, compiled by XLA", dict(bits=False, product_dtype=tf.float32, adam=True, xla=True)),
            ("bit masks", dict(bits=True, product_dtype=tf.float32, adam=True)),
            ("bit masks, bfloat16 products", dict(bits=True, product_dtype=tf.bfloat16, adam=True)),
            ("as above without Adam (its share)", dict(bits=True, product_dtype=tf.bfloat16, adam=False)),
        ):
            ladder[label] = [plain_step_ms(spec, x, y, k, batch_size=args.batch_size, **options) for k in (1, 3)]
        for dtype in (tf.float32, tf.bfloat16):
            one = products_ms(x, units, dtype, args.batch_size)
            ladder[f"first layer's products alone, {dtype.name}"] = [one, 3 * one]
        for label, (one, three) in ladder.items():
            per_step = {1: one, 2: (one + three) / 2, 3: three}
            seconds = search_seconds(per_step, epochs, steps_per_epoch) if epochs else math.nan
            print(f"{label:<44} {one:14.2f} {three:15.2f} {seconds:9.1f}", flush=True)
        told = ",".join(map(str, epochs)) if epochs else "not given (--candidate-epochs)"
        print(f"search s: candidate epochs {told}, {steps_per_epoch} steps an epoch, nothing but steps counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
