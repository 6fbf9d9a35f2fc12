"""Command line: `transferbench run | report | predict | list | cache`; heavy imports live in the handlers."""

import argparse
import importlib.util
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import __version__, interrupts
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_USAGE,
    OutputError,
    TransferbenchError,
    UsageError,
)

EXIT_CODES = """exit codes:
  0  every row ran (status ok)
  1  internal error (a bug: please report it with --debug output)
  2  bad input: unknown name, bad value, bad config, missing or corrupt file, unusable output folder
  3  some rows were skipped (e.g. ImageNet weights not available offline); the others ran
  4  some rows failed (the reason is in results.json); the others ran
  5  the run folder could not be written (disk full, permission lost); rows finished before are intact
  130 interrupted (Ctrl-C or SIGTERM); finished rows are saved: continue with --resume RUN_DIR
see docs/errors.md for every bad-input case and its message"""


def _names(text):
    """Split a comma-separated list of names."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _weights_file(text):
    """Parse MODEL=PATH."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected MODEL=PATH, got '{text}'")
    return name.strip(), path.strip()


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, exit 2, with a suggestion for unknown flags."""

    def error(self, message):
        """Print one line and exit 2."""
        if "unrecognized arguments" in message:
            import difflib

            parsers = [
                self,
                *(p for a in self._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()),
            ]
            flags = [opt for parser in parsers for action in parser._actions for opt in action.option_strings]
            words = message.split(":", 1)[1].split()
            hints = [difflib.get_close_matches(w.split("=")[0], flags, n=1) for w in words]
            hint = next((h[0] for h in hints if h), None)
            message += f" (did you mean '{hint}'?)" if hint else ""
        self.exit(2, f"transferbench: error: {message}\n")


def _add_run_flags(parser):
    """Flags of `run`; every one defaults to 'not given' so the config file can fill it."""
    s = argparse.SUPPRESS
    add = parser.add_argument
    add("--config", metavar="FILE", help="TOML file of settings (keys as below, with _ or -); flags override it")
    add(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run with its recorded settings: rows already ok are kept, the others rerun",
    )
    add("--dataset", default=s, help="dataset name (default mnist; see `transferbench list`)")
    add("--data-file", default=s, metavar="PATH", help="local dataset file, checked by sha256, tried first")
    add("--models", type=_names, default=s, metavar="A,B", help="rows to run (default vgg16,resnet50,mobilenetv2,cnn)")
    add(
        "--fine-tune",
        type=_names,
        default=s,
        metavar="none|all|A,B",
        help="backbones to fine-tune after their frozen phase (default vgg16)",
    )
    add(
        "--weights",
        default=s,
        choices=["imagenet", "random"],
        help="initial backbone weights: imagenet (Keras cache, then download; rows are skipped, never made "
        "random, when unavailable) or random (explicit random init, labelled so)",
    )
    add(
        "--weights-file",
        type=_weights_file,
        action="append",
        default=s,
        metavar="MODEL=PATH",
        help="local weights file for one backbone (.h5 or .weights.h5); repeatable",
    )
    add("--input-size", type=int, default=s, metavar="PX", help="square input side, >= 32 (default 32, as the seed)")
    add(
        "--preprocess",
        default=s,
        choices=["backbone", "seed"],
        help="backbone: each backbone's own preprocess_input (default); seed: [0, 1] pixels for all, as the seed",
    )
    add(
        "--recipe",
        default=s,
        choices=["fair", "seed"],
        help="fair (default): every head tries Adam 1e-4/1e-3/1e-2 and trains up to 100 epochs, all rows stop early "
        "on validation loss (patience 5, best weights); seed: exactly the course notebook's settings (the flags "
        "below), to reproduce it",
    )
    add(
        "--epochs",
        type=int,
        default=s,
        help="epoch cap of the scratch CNN and (seed recipe) of heads (default 10; fair heads: up to 100)",
    )
    add("--batch-size", type=int, default=s, help="training batch size (default 128)")
    add(
        "--patience",
        type=int,
        default=s,
        help="seed recipe: early-stopping patience on val_loss, 0 = off (default 3; fair uses 5)",
    )
    add(
        "--lr",
        type=float,
        default=s,
        help="seed recipe: Adam learning rate of heads (default 1e-4; fair tries 1e-4, 1e-3, 1e-2)",
    )
    add("--cnn-lr", type=float, default=s, help="Adam learning rate for the scratch CNN (default 1e-3)")
    add("--fine-tune-epochs", type=int, default=s, help="phase-2 epochs (default 5)")
    add("--fine-tune-lr", type=float, default=s, help="phase-2 Adam learning rate (default 1e-5)")
    add("--val-fraction", type=float, default=s, help="stratified validation share (default 0.1)")
    add("--train-limit", type=int, default=s, metavar="N", help="stratified subset of N training images")
    add("--test-limit", type=int, default=s, metavar="N", help="stratified subset of N test images")
    add("--seed", type=int, default=s, help="seed for splits, subsets, init and shuffling (default 42)")
    add(
        "--seeds",
        default=s,
        metavar="N|A,B,C",
        help="repeat every row over N seeds (seed, seed+1, ...) or the seeds listed; the summary and report then "
        "give mean, std, a 95%% confidence interval and a paired comparison with the cnn row",
    )
    add(
        "--input-sizes",
        default=s,
        metavar="32,64,96",
        help="resolution study: run the grid at each input size; the report plots accuracy and cost against size",
    )
    add(
        "--label-budgets",
        default=s,
        metavar="100,1000,all",
        help="train every row on stratified, seeded subsets of this many labelled images (validation taken from "
        "the subset, at least 2 per class) and test on the full test set; the report plots accuracy vs labels",
    )
    add("--out", default=s, metavar="DIR", help="run folder (default runs/<UTC timestamp>)")
    add("--overwrite", action="store_true", default=s, help="allow an existing non-empty run folder")
    add(
        "--no-cache",
        dest="cache",
        action="store_false",
        default=s,
        help="train every row the seed's way, with Keras's fit (frozen and fine-tuned rows over the full model "
        "every epoch) instead of on features computed once and many steps per graph call; slower, kept as the "
        "baseline and for future augmentation",
    )
    add(
        "--no-disk-cache",
        dest="disk_cache",
        action="store_false",
        default=s,
        help="compute features in memory only; do not read or write the feature cache",
    )
    add(
        "--extract-batch-size",
        type=int,
        default=s,
        metavar="N",
        help="images per batch of feature extraction (default: 256 at 32 px, scaled down with the pixel count "
        "on larger inputs to bound memory, e.g. 28 at 96 px)",
    )
    add(
        "--tensorboard",
        action="store_true",
        default=s,
        help="write TensorBoard logs per row under RUN_DIR/tensorboard/",
    )
    add("--no-report", dest="report", action="store_false", default=s, help="do not write figures and the report")
    add("--lang", default=s, choices=["en", "es"], help="report language (default en)")
    add(
        "--cache-dir",
        default=s,
        metavar="DIR",
        help="cache root (default $TRANSFERBENCH_CACHE or ~/.cache/transferbench)",
    )


def build_parser():
    """The argument parser of every subcommand."""
    parser = Parser(
        prog="transferbench",
        description="Does an ImageNet-pretrained backbone beat a CNN from scratch on your small image dataset?",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"transferbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    run = commands.add_parser(
        "run",
        help="run the comparison and write a run folder",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_flags(run)
    commands.add_parser("list", help="list backbones, scratch models and datasets")
    report = commands.add_parser("report", help="write figures, report.html and report.md for a run folder")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--lang", choices=["en", "es"], default="en", help="report language (default en)")
    report.add_argument(
        "--feature-model",
        default="vgg16",
        metavar="NAME",
        help="row whose first three conv layers are shown as feature maps (default vgg16)",
    )
    report.add_argument("--seed", type=int, default=0, help="seed for the example images (default 0)")
    predict = commands.add_parser("predict", help="classify image files with a saved model")
    predict.add_argument("--model", required=True, metavar="RUN_DIR/models/NAME.keras")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files, any size, gray or colour")
    predict.add_argument("--json", action="store_true", help="print machine-readable JSON")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    cache = commands.add_parser("cache", help="show or clear the feature cache")
    cache.add_argument("action", choices=["info", "clear"], help="info: entries and sizes; clear: delete them")
    cache.add_argument(
        "--cache-dir", metavar="DIR", help="cache root (default $TRANSFERBENCH_CACHE or ~/.cache/transferbench)"
    )
    return parser


def _flag_settings(args):
    """Settings given as flags, in config-field names."""
    settings = {k: v for k, v in vars(args).items() if k not in ("command", "config", "debug", "resume")}
    if "weights_file" in settings:
        settings["weights_files"] = dict(settings.pop("weights_file"))
    return settings


def _prepare_out(cfg):
    """Resolve and create the run folder; refuse a non-empty one unless overwrite is set."""
    out = Path(cfg.out) if cfg.out else Path("runs") / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        raise UsageError(f"run folder {out} is not empty; choose another --out or pass --overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create run folder {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"run folder {out} is not writable; choose another --out")
    cfg.out = str(out)
    return out


def quiet_tensorflow():
    """Hide TensorFlow's Python-side warnings (retracing notices) that say nothing to users."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _resume_settings(args):
    """The recorded config and earlier record of the run folder named by --resume."""
    from .config import from_record
    from .results import load_results

    extra = sorted(k for k in _flag_settings(args) if k not in ("report", "lang"))
    if extra or args.config:
        given = ", ".join(["--" + k.replace("_", "-") for k in extra] + (["--config"] if args.config else []))
        raise UsageError(f"--resume uses the settings recorded in the run folder; drop {given}")
    previous = load_results(args.resume)
    cfg = from_record(previous.get("config"), args.resume)
    for key in ("report", "lang"):
        if hasattr(args, key):
            setattr(cfg, key, getattr(args, key))
    cfg.out = str(args.resume)
    return cfg, previous


def _verify_weights_files(cfg):
    """Check every --weights-file loads into its backbone before any row runs (fail in seconds, not hours)."""
    if not cfg.weights_files:
        return
    from .backbones import BACKBONES
    from .modeling import verify_weights_file

    for name, path in cfg.weights_files.items():
        verify_weights_file(BACKBONES[name], path, cfg.input_size)


def cmd_run(args):
    """Handle `transferbench run`."""
    from .config import load_toml, resolve
    from .experiment import plan_rows

    quiet_tensorflow()
    if args.resume:
        cfg, previous = _resume_settings(args)
        out = Path(cfg.out)
        plan_rows(cfg)
    else:
        cfg = resolve(load_toml(args.config) if args.config else {}, _flag_settings(args))
        plan_rows(cfg)  # fail on bad names before creating anything
        previous = None
    if cfg.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--tensorboard needs the tensorboard package: pip install tensorboard")
    _verify_weights_files(cfg)
    if not args.resume:
        created = not Path(cfg.out or "runs/-").exists()
        out = _prepare_out(cfg)
    from .experiment import run_experiment
    from .summary import print_summary

    def announce(row, index, total, kept):
        note = "already ok, kept" if kept else row["phase"]
        print(f"\n[{index}/{total}] {row['name']} ({note})", flush=True)

    try:
        with interrupts.handling():  # SIGTERM like Ctrl-C: save what is finished, say how to resume
            record = run_experiment(cfg, out, on_row=announce, previous=previous)
    except OutputError as exc:
        raise OutputError(f"{exc}; free space (or fix permissions), then `transferbench run --resume {out}`") from None
    except TransferbenchError:
        if not args.resume and created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # bad data or limits found before anything was written: leave no empty folder
        raise
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished rows are saved in {out}/results.json; "
            f"continue with `transferbench run --resume {out}`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print_summary(record, out)
    if cfg.report:
        from .report import build_report

        try:
            print(f"report: {build_report(out, lang=cfg.lang)}")
        except Exception as exc:  # the results are saved; a report problem must not hide them
            print(
                f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
                f"retry with `transferbench report {out}`",
                file=sys.stderr,
            )
    statuses = {row["status"] for row in record["rows"]}
    return EXIT_FAILED if "failed" in statuses else EXIT_SKIPPED if "skipped" in statuses else EXIT_OK


def cmd_list(args):
    """Handle `transferbench list`."""
    from .backbones import BACKBONES, SCRATCH_MODELS
    from .data import DATASETS

    print("backbones (rows NAME frozen, NAME_probe linear probe, fine-tuned with --fine-tune NAME):")
    for spec in BACKBONES.values():
        print(
            f"  {spec.name:<17} {spec.params / 1e6:5.1f}M params  preprocess={spec.preprocess:<6} "
            f"cut after {spec.cut_after}\n  {'':<17} ImageNet file: {spec.weights_file_for(224)}"
        )
    print("scratch models:")
    notes = {
        "cnn": "the seed's CNN (3 conv, Dense 256, Dropout 0.5), resized to --input-size, Adam --cnn-lr",
        "cnn_modern": "BatchNorm + shifts/rotations, cosine lr (peak 3e-3), 32/48,48/96 + dense 256, images' own size",
    }
    for name in SCRATCH_MODELS:
        print(f"  {name:<17} {notes[name]}")
    print("datasets:")
    for spec in DATASETS.values():
        print(f"  {spec.name:<17} {spec.notes}")
    return EXIT_OK


def cmd_report(args):
    """Handle `transferbench report RUN_DIR`."""
    quiet_tensorflow()
    from .report import build_report

    print(f"report: {build_report(args.run_dir, lang=args.lang, feature_model=args.feature_model, seed=args.seed)}")
    return EXIT_OK


def _class_names(model_path, count):
    """Class names recorded in the model's run folder, else 0..count-1."""
    import json

    results = Path(model_path).resolve().parent.parent / "results.json"
    try:
        names = json.loads(results.read_text())["dataset"]["class_names"]
        return names if len(names) == count else [str(i) for i in range(count)]
    except (OSError, ValueError, KeyError, TypeError):
        return [str(i) for i in range(count)]


def cmd_predict(args):
    """Handle `transferbench predict --model FILE IMAGE...`."""
    import json

    model_path = Path(args.model)
    if not model_path.is_file():
        raise UsageError(f"model file not found: {model_path}")
    quiet_tensorflow()
    import keras

    from . import layers  # noqa: F401  (registers the custom layers)
    from .predict import predict_files

    try:
        model = keras.models.load_model(model_path)
    except Exception as exc:
        raise UsageError(f"cannot load model {model_path}: {str(exc).splitlines()[0][:200]}") from None
    outputs = predict_files(model, args.images, _class_names(model_path, model.output_shape[-1]), k=args.top)
    if args.json:
        print(json.dumps(outputs, indent=2))
    for item in outputs:
        if "error" in item:
            print(f"transferbench: error: {item['file']}: {item['error']}", file=sys.stderr)
        elif not args.json:
            top = ", ".join(f"{c['class']} {c['probability']:.1%}" for c in item["top"])
            print(f"{item['file']}: {top}")
    return EXIT_USAGE if any("error" in item for item in outputs) else EXIT_OK


def cmd_cache(args):
    """Handle `transferbench cache info|clear`."""
    from .data import default_cache_dir
    from .feature_cache import cache_entries, clear_cache

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.action == "clear":
        freed = clear_cache(root)
        print(f"cleared the feature cache in {root / 'features'} ({freed / 1e6:.1f} MB freed)")
        return EXIT_OK
    entries = cache_entries(root)
    total = sum(size for _, _, size in entries)
    print(f"feature cache: {root / 'features'}: {len(entries)} entries, {total / 1e6:.1f} MB")
    for path, description, size in entries:
        print(f"  {path.stem[:12]}  {size / 1e6:8.1f} MB  {description}")
    return EXIT_OK


def import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 muted: its C++ start-up lines (oneDNN, CPU features) are
    written before its log level applies and say nothing to users. Python errors still raise."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def main(argv=None):
    """Entry point of the console script; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: hide its info lines
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.debug:
        os.environ["TRANSFERBENCH_DEBUG"] = "1"
    else:
        import_tensorflow_quietly()
    if args.command is None:
        parser.print_help()
        return 2
    handler = {"run": cmd_run, "list": cmd_list, "cache": cmd_cache, "report": cmd_report, "predict": cmd_predict}[
        args.command
    ]
    try:
        return handler(args)
    except TransferbenchError as exc:
        if args.debug:
            raise
        print(f"transferbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `transferbench list | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit flush
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
