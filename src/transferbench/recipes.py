"""Training recipes: `course` reproduces the course notebook; `fair` trains every row to convergence, since a
comparison built on under-trained heads reports "transfer loses" when a head simply did not converge."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """How one row trains: learning rates to try (best validation loss wins), epoch cap, patience, and the window
    over which a candidate's recent improvement shows whether it can still win (None: only patience stops it)."""

    learning_rates: tuple
    epochs: int
    patience: int
    cut_window: int | None = None


HEAD_LRS = (1e-4, 1e-3, 1e-2)  # heads on cached features are cheap: try each, keep the best on validation
HEAD_EPOCHS = 100  # with early stopping on validation loss, an upper bound that is rarely reached
FAIR_PATIENCE = 5
CUT_WINDOW = 10  # a candidate that cannot reach the leader at its mean improvement of its last 10 epochs stops


def schedule(cfg, phase):
    """The schedule of a row of this phase ('frozen', 'scratch', 'fine_tuned') under cfg's recipe.

    course: the configured lr / epochs / patience, fine-tuning for a fixed number of epochs as the course does.
    fair: frozen heads try HEAD_LRS for up to HEAD_EPOCHS (side by side, a candidate that cannot win stops); the CNN
    and fine-tuning keep their lr (one full training each is what they cost) with the same early-stopping rule
    (patience FAIR_PATIENCE, best weights).
    """
    if cfg.recipe == "course":
        return {
            "frozen": Schedule((cfg.lr,), cfg.epochs, cfg.patience),
            "scratch": Schedule((cfg.cnn_lr,), cfg.epochs, cfg.patience),
            "fine_tuned": Schedule((cfg.fine_tune_lr,), cfg.fine_tune_epochs, 0),
        }[phase]
    return {
        "frozen": Schedule(HEAD_LRS, HEAD_EPOCHS, FAIR_PATIENCE, CUT_WINDOW),
        "scratch": Schedule((cfg.cnn_lr,), cfg.epochs, FAIR_PATIENCE),
        "fine_tuned": Schedule((cfg.fine_tune_lr,), cfg.fine_tune_epochs, FAIR_PATIENCE),
    }[phase]


def _epochs(count):
    """'1 epoch', '5 epochs'."""
    return f"{count} epoch{'' if count == 1 else 's'}"


def describe(cfg):
    """One line for results and reports."""
    if cfg.recipe == "course":
        return (
            f"course: heads Adam {cfg.lr:g} <= {_epochs(cfg.epochs)}, CNN Adam {cfg.cnn_lr:g}, "
            f"patience {cfg.patience}; "
            f"fine-tuning Adam {cfg.fine_tune_lr:g} for {_epochs(cfg.fine_tune_epochs)}"
        )
    search = cfg.head_search if cfg.cache else "sequential"
    cut = f", a rate stops once its pace over its last {CUT_WINDOW} epochs cannot catch the leader" * (
        search == "side-by-side"
    )
    return (
        f"fair: heads try Adam {', '.join(f'{lr:g}' for lr in HEAD_LRS)} "
        f"({search}; best validation loss{cut}) "
        f"for <= {_epochs(HEAD_EPOCHS)}; CNN Adam {cfg.cnn_lr:g} <= {_epochs(cfg.epochs)}; "
        f"fine-tuning Adam {cfg.fine_tune_lr:g} <= {_epochs(cfg.fine_tune_epochs)}; "
        f"early stopping on validation loss, patience {FAIR_PATIENCE}, best weights"
    )
