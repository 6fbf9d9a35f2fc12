"""Training recipes: `course` reproduces the course notebook; `fair` trains every row to convergence, since a
comparison built on under-trained heads reports "transfer loses" when a head simply did not converge; `fast` is
fair with each head's rates falling to 0 over a short cap, for screening many rows at a measured cost."""

import math
from dataclasses import dataclass
from typing import Literal

from .i18n import translator


@dataclass(frozen=True)
class Schedule:
    """How one row trains: learning rates to try (best validation loss wins), epoch cap, patience, and the window
    over which a candidate's recent improvement shows whether it can still win (None: only patience stops it), and
    whether each rate holds (constant) or falls to 0 along a cosine over the epoch cap, one step per epoch (cosine)."""

    learning_rates: tuple
    epochs: int
    patience: int
    cut_window: int | None = None
    decay: Literal["constant", "cosine"] = "constant"


HEAD_LRS = (1e-4, 1e-3, 1e-2)  # heads on cached features are cheap: try each, keep the best on validation
HEAD_EPOCHS = 100  # with early stopping on validation loss, an upper bound that is rarely reached
FAIR_PATIENCE = 5
CUT_WINDOW = 10  # a candidate that cannot reach the leader at its mean improvement of its last 10 epochs stops
FAST_HEAD_EPOCHS = 20  # fast: the cosine's length; docs/performance.md measures its speed and accuracy against fair


def cosine_rate(base, epoch, epochs):
    """The rate of epoch `epoch` (counted from 0) when `base` falls to 0 along a cosine over `epochs` epochs."""
    return base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def schedule(cfg, phase):
    """The schedule of a row of this phase ('frozen', 'scratch', 'fine_tuned') under cfg's recipe.

    course: the configured lr / epochs / patience, fine-tuning for a fixed number of epochs as the course does.
    fair: frozen heads try HEAD_LRS for up to HEAD_EPOCHS (side by side, a candidate that cannot win stops); the CNN
    and fine-tuning keep their lr (one full training each is what they cost) with the same early-stopping rule
    (patience FAIR_PATIENCE, best weights). fast: as fair, but each head rate falls to 0 over FAST_HEAD_EPOCHS.
    """
    if cfg.recipe == "course":
        return {
            "frozen": Schedule((cfg.lr,), cfg.epochs, cfg.patience),
            "scratch": Schedule((cfg.cnn_lr,), cfg.epochs, cfg.patience),
            "fine_tuned": Schedule((cfg.fine_tune_lr,), cfg.fine_tune_epochs, 0),
        }[phase]
    heads = (
        Schedule(HEAD_LRS, FAST_HEAD_EPOCHS, FAIR_PATIENCE, CUT_WINDOW, decay="cosine")
        if cfg.recipe == "fast"
        else Schedule(HEAD_LRS, HEAD_EPOCHS, FAIR_PATIENCE, CUT_WINDOW)
    )
    return {
        "frozen": heads,
        "scratch": Schedule((cfg.cnn_lr,), cfg.epochs, FAIR_PATIENCE),
        "fine_tuned": Schedule((cfg.fine_tune_lr,), cfg.fine_tune_epochs, FAIR_PATIENCE),
    }[phase]


def _epochs(count, t):
    """'1 epoch', '5 epochs' in t's language."""
    return t("r_epoch" if count == 1 else "r_epochs", count=count)


def describe(cfg, t=None):
    """One line for results (English) and reports (t's language)."""
    t = t or translator("en")
    rates = {
        "cnn_lr": f"{cfg.cnn_lr:g}",
        "ft_lr": f"{cfg.fine_tune_lr:g}",
        "ft_epochs": _epochs(cfg.fine_tune_epochs, t),
    }
    if cfg.recipe == "course":
        return t("r_course", lr=f"{cfg.lr:g}", epochs=_epochs(cfg.epochs, t), patience=cfg.patience, **rates)
    heads = schedule(cfg, "frozen")
    search = cfg.head_search if cfg.cache else "sequential"
    return t(
        "r_heads",
        recipe=cfg.recipe,
        rates=", ".join(f"{lr:g}" for lr in heads.learning_rates),
        search=t(f"r_{search}"),
        cut=t("r_cut", window=CUT_WINDOW) if search == "side-by-side" else "",
        length=t(f"r_{heads.decay}"),
        epochs=_epochs(heads.epochs, t),
        cnn_epochs=_epochs(cfg.epochs, t),
        patience=FAIR_PATIENCE,
        **rates,
    )


def described_in(record, t):
    """A run's recorded recipe in t's language, where this version describes the recorded config in the same words;
    else (another version's recipe, or English) as recorded."""
    from .config import from_record
    from .errors import UsageError

    if t.lang == "en" or not record.recipe:
        return record.recipe
    try:
        cfg = from_record(record.config, "run")
    except UsageError:
        return record.recipe
    return describe(cfg, t) if describe(cfg) == record.recipe else record.recipe
