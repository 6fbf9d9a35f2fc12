"""Command line: `transferbench run | report | predict | list | cache`; heavy imports live in the handlers."""

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .config import OLD_SPELLINGS as OLD_NAMES
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_USAGE,
    Interrupted,
    TransferbenchError,
    UsageError,
)
from .image_input import CONVENTIONS

EXIT_CODES = """exit codes:
  0  every row ran (status ok)
  1  internal error (a bug: please report it with --debug output)
  2  bad input: unknown name, bad value, bad config, missing or corrupt file, unusable output folder
  3  some rows were skipped (e.g. ImageNet weights not available offline); the others ran
  4  some rows failed (the reason is in results.json); the others ran
  5  the run folder could not be written (disk full, permission lost); rows finished before are intact
  130 interrupted (Ctrl-C or SIGTERM); finished rows are saved: continue with --resume RUN_DIR
see docs/errors.md for every bad-input case and its message"""


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


class Spellings(list):
    """A flag's choices as argparse lists them (the current names), also accepting the old spellings."""

    def __init__(self, current, old):
        super().__init__(current)
        self.old = tuple(old)

    def __contains__(self, value):
        return list.__contains__(self, value) or value in self.old


def _add_run_flags(parser):
    """Flags of `run`, one per RunConfig field (config.py declares them); every one defaults to 'not given'
    so the config file can fill it."""
    from .config import FIELDS, choices_of, flag_of, kind_of, shown_default

    add = parser.add_argument
    add("--config", metavar="FILE", help="TOML file of settings (keys as below, with _ or -); flags override it")
    add(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run with its recorded settings: rows already ok are kept, the others rerun",
    )
    for name, spec in FIELDS.items():
        meta, kind, flag = spec.metadata, kind_of(name), flag_of(name)
        text = meta["help"].replace("%", "%%")
        if flag.startswith("--no-"):  # the help says what the setting does; the flag turns it off
            text += ": on by default, this flag turns it off"
        elif "(default" not in text:  # a help that explains its own default keeps it
            shown = shown_default(name)
            text += " (default: not set)" if shown == "-" else f" (default {shown})"
        options = {"dest": name, "default": argparse.SUPPRESS, "help": text}
        if kind is bool:
            options["action"] = "store_false" if flag.startswith("--no-") else "store_true"
        elif kind is dict:
            options.update(type=_weights_file, action="append", metavar=meta["metavar"])
        else:
            current = choices_of(name)  # old spellings are accepted but not offered in --help
            options.update(metavar=meta["metavar"] or ("{" + ",".join(current) + "}" if current else name.upper()))
            if kind in (int, float):
                options["type"] = kind
            if current:
                options["choices"] = Spellings(current, [old for (key, old) in OLD_NAMES if key == name])
        add(flag, **options)


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
    predict.add_argument(
        "--model", required=True, metavar="RUN_DIR/models/NAME.keras", help="a model a run saved (.keras)"
    )
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files (PNG, JPEG, ...; any size, grey or colour) or folders of them",
    )
    predict.add_argument("--json", action="store_true", help="print machine-readable JSON")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show, at least 1 (default 3)")
    predict.add_argument(
        "--no-normalize",
        dest="normalize",
        action="store_false",
        help="resize the whole picture instead of applying the model's input convention (for digit datasets, "
        "MNIST's: the ink cropped, scaled into 20x20 and centred by mass, light on dark)",
    )
    predict.add_argument("--show", metavar="DIR", help="save the image each model saw into DIR (NAME.seen.png)")
    predict.add_argument(
        "--convention",
        choices=list(CONVENTIONS),
        help="input convention of a model outside its run folder (default: the one its run recorded)",
    )
    predict.add_argument(
        "--engine",
        choices=["tf", "openvino"],
        default="tf",
        help="inference engine (default tf; openvino is checked against tf first and takes seconds to convert, "
        "so it pays off on many images; needs the [openvino] extra)",
    )
    serve = commands.add_parser(
        "serve", help="a local page to draw or upload a digit and ask every model of a run (needs the [serve] extra)"
    )
    serve.add_argument("run_dir", metavar="RUN_DIR")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--engine",
        choices=["auto", "tf", "openvino"],
        default="auto",
        help="inference engine of the answers: auto (default) uses OpenVINO for backbones where it measured faster "
        "when the [openvino] extra is installed and it matches tf on a check; tf; or openvino for every model",
    )
    cache = commands.add_parser("cache", help="the feature cache: info lists its entries, clear deletes them")
    cache.add_argument("action", choices=["info", "clear"], help="info: entries and sizes; clear: delete them")
    cache.add_argument(
        "--cache-dir", metavar="DIR", help="cache root (default $TRANSFERBENCH_CACHE or ~/.cache/transferbench)"
    )
    return parser


def _flag_settings(args):
    """Settings given as flags, in config-field names."""
    settings = {k: v for k, v in vars(args).items() if k not in ("command", "config", "debug", "resume")}
    if "weights_files" in settings:
        settings["weights_files"] = dict(settings["weights_files"])
    return settings


def quiet_tensorflow():
    """Hide TensorFlow's Python-side warnings (retracing notices) that say nothing to users."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def cmd_run(args):
    """Handle `transferbench run`: parse the settings, call api.run, print the summary, map the outcome."""
    from . import api
    from .config import RunConfig, resolve
    from .config_file import load_toml
    from .summary import print_summary

    quiet_tensorflow()
    if args.resume:
        extra = sorted(k for k in _flag_settings(args) if k not in ("report", "lang"))
        if extra or args.config:
            given = ", ".join(["--" + k.replace("_", "-") for k in extra] + (["--config"] if args.config else []))
            raise UsageError(f"--resume uses the settings recorded in the run folder; drop {given}")
        overrides = RunConfig(report=getattr(args, "report", True), lang=getattr(args, "lang", "en"))
        record = api.run(overrides, resume=args.resume)
    else:
        record = api.run(resolve(load_toml(args.config) if args.config else {}, _flag_settings(args)))
    out = Path(record.config["out"])
    print_summary(record, out)
    if record.config["report"] and (out / "report.html").is_file():
        print(f"report: {out / 'report.html'}")
    statuses = {row.status for row in record.rows}
    return EXIT_FAILED if "failed" in statuses else EXIT_SKIPPED if "skipped" in statuses else EXIT_OK


def cmd_list(args):
    """Handle `transferbench list`."""
    from . import api

    print("backbones (rows NAME frozen, NAME_probe linear probe, fine-tuned with --fine-tune NAME):")
    for spec in api.list_backbones():
        print(
            f"  {spec.name:<17} {spec.params / 1e6:5.1f}M params  preprocess={spec.preprocess:<6} "
            f"cut after {spec.cut_after}\n  {'':<17} ImageNet file: {spec.weights_file_for(224)}"
        )
    print("scratch models:")
    for spec in api.list_scratch_models():
        print(f"  {spec.name:<17} {spec.note}")
    print("datasets:")
    for spec in api.list_datasets():
        print(f"  {spec.name:<17} {spec.notes}")
    return EXIT_OK


def cmd_report(args):
    """Handle `transferbench report RUN_DIR`."""
    from . import api

    quiet_tensorflow()
    print(f"report: {api.report(args.run_dir, lang=args.lang, feature_model=args.feature_model, seed=args.seed)}")
    return EXIT_OK


def cmd_predict(args):
    """Handle `transferbench predict --model FILE IMAGE...`."""
    import json

    from . import api

    quiet_tensorflow()
    predictions = api.predict(
        args.model,
        args.images,
        top=args.top,
        normalize=args.normalize,
        convention=args.convention,
        show=args.show,
        engine=args.engine,
    )
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    for item in predictions:
        if item.error is not None:
            print(f"transferbench: error: {item.file}: {item.error}", file=sys.stderr)
        elif not args.json:
            print(f"{item.file}: " + ", ".join(f"{name} {p:.1%}" for name, p in item.top))
    return EXIT_USAGE if any(item.error is not None for item in predictions) else EXIT_OK


def cmd_serve(args):
    """Handle `transferbench serve RUN_DIR`."""
    from .serve import serve

    quiet_tensorflow()
    serve(args.run_dir, host=args.host, port=args.port, engine=args.engine)
    return EXIT_OK


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
    count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
    print(f"feature cache: {root / 'features'}: {count}, {total / 1e6:.1f} MB")
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
    handler = {
        "run": cmd_run,
        "list": cmd_list,
        "cache": cmd_cache,
        "report": cmd_report,
        "predict": cmd_predict,
        "serve": cmd_serve,
    }[args.command]
    try:
        return handler(args)
    except Interrupted as exc:
        print(f"\n{exc}", file=sys.stderr)
        return exc.exit_code
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
