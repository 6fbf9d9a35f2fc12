"""Every word of the report and its figures, in English and Spanish."""

import functools
import re
from string import Formatter

STRINGS = {
    "en": {
        "report_title": "transferbench report",
        "recipe": "Training recipe",
        "passes": "Frozen forward passes",
        "pass_at": "{backbone} at {px} px",
        "pass_cached": "features read from the cache",
        "in_passes": " in {count} passes",
        "time_split": "Where the training time went",
        "r_epoch": "{count} epoch",
        "r_epochs": "{count} epochs",
        "r_course": "course: heads Adam {lr} <= {epochs}, CNN Adam {cnn_lr}, patience {patience}; fine-tuning Adam "
        "{ft_lr} for {ft_epochs}",
        "r_heads": "{recipe}: heads try Adam {rates} ({search}; best validation loss{cut}){length} {epochs}; "
        "CNN Adam {cnn_lr} <= {cnn_epochs}; fine-tuning Adam {ft_lr} <= {ft_epochs}; early stopping on validation "
        "loss, patience {patience}, best weights",
        "r_cut": ", a rate stops once its pace over its last {window} epochs cannot catch the leader",
        "r_constant": " for <=",
        "r_cosine": ", each rate falling to 0 along a cosine over",
        "r_side-by-side": "side-by-side",
        "r_sequential": "sequential",
        "time_extraction": "feature extraction",
        "time_heads": "heads (frozen rows)",
        "time_fine_tuning": "fine-tuning",
        "time_scratch": "from scratch",
        "sizes_title": "Accuracy and cost against input size (largest label budget, mean over seeds)",
        "input_size": "Input size (pixels per side)",
        "train_seconds": "Training seconds (incl. feature extraction)",
        "budget_title": "Test accuracy vs labelled training images (mean over seeds, 95% CI)",
        "grid_table_title": "Test accuracy over the grid (mean over seeds, 95% interval):",
        "labelled_images": "Labelled training images (log scale)",
        "one_cell_note": (
            "Per-model figures below show one cell of the grid: label budget {budget}, seed {seed}, {px} px."
        ),
        "curves_title": "Training curves: transfer learning vs CNN from scratch",
        "curves_title_plain": "Training curves",
        "train_acc": "Training accuracy",
        "val_acc": "Validation accuracy",
        "train_loss": "Training loss",
        "val_loss": "Validation loss",
        "epoch": "Epoch",
        "train": "training",
        "validation": "validation",
        "accuracy": "Accuracy",
        "loss": "Loss",
        "phase_boundary": "start of fine-tuning",
        "bars_title": "Test accuracy by model",
        "seed_points_title": "Test accuracy over seeds: mean (diamond), 95% interval (bar), each seed (dot)",
        "test_acc_pct": "Test accuracy (%)",
        "fmaps_title": "Feature maps of {model} for one test image (label {label})",
        "channel": "channel",
        "fmaps_section": "Feature maps",
        "confusion_title": "Confusion matrix: {model}",
        "predicted": "Predicted",
        "true": "True",
        "examples_title": "Predictions of {model} on 12 random test images",
        "mistakes_title": "Most confident mistakes of {model}",
        "pred_true": "pred {pred} / true {true}\n{conf:.1%}",
        "comparison": "Comparison",
        "model": "Model",
        "weights": "Weights",
        "phase": "Phase",
        "acc_pct": "Accuracy (%)",
        "total_params": "Total params",
        "trainable_params": "Trainable params",
        "frozen_params": "Frozen params",
        "pct_frozen": "% frozen",
        "time_s": "Time (s)",
        "params_per_point": "Trainable params per accuracy point",
        "status": "Status",
        "best_model": "Best model",
        "best_sentence": "{model} with {acc:.2f}% test accuracy.",
        "not_ok": "Rows that did not run",
        "reason": "Reason",
        "figures": "Figures",
        "verdict": "The answer",
        "v_nothing": "No row finished, so this run cannot answer the question.",
        "v_best": "Best: {model}, {acc:.2f}% test accuracy, after {seconds:.0f} s of training with {params:,} "
        "trainable parameters.",
        "v_margin": "It leads {other} by {points:.2f} points.",
        "v_margin_significant": "It leads {other} by {points:.2f} points, significantly over {n} seeds (paired 95% "
        "interval {low:+.2f} to {high:+.2f}).",
        "v_margin_not_significant": "It leads {other} by {points:.2f} points, which is not significant over {n} "
        "seeds (the paired 95% interval, {low:+.2f} to {high:+.2f}, includes 0).",
        "v_at_px": " at {px} px",
        "v_with_budget": " with {budget:,} labelled images",
        "v_with_all": " with all labelled images",
        "v_seed_of": "{label} (seed {seeds})",
        "v_seeds_of": "{label} (seeds {seeds})",
        "v_near_chance": "That is near chance ({chance:.2f}% for {classes} classes): no model learned much from "
        "these images, so the comparison says little. Check that each class holds its own kind of image (a folder "
        "dataset: one subfolder per class), or give more images.",
        "v_tie": "It ties with {other} (the same test accuracy): the run does not separate them.",
        "v_cnn_wins": "No transfer row beats the CNN trained from scratch here.",
        "v_scratch_wins": "{model} is trained from scratch too: no transfer row beats it here.",
        "v_transfer": "Transfer",
        "v_no_transfer": "No transfer row finished ({count} did not run: see below), so this run cannot compare them.",
        "v_no_cnn": "There is no {base} row in the same cell to compare transfer with.",
        "v_no_scratch": "This run has no CNN trained from scratch, so it cannot say whether transfer beats one: add "
        "cnn to --models.",
        "v_vs_cnn_unknown": "It is {points:+.2f} points against {base}; this run cannot tell whether that is more "
        "than seed-to-seed noise.",
        "v_vs_cnn_significant": "{who} beats {base} by {points:+.2f} points on average over seeds, and the "
        "difference is significant (paired 95% interval {low:+.2f} to {high:+.2f}).",
        "v_vs_cnn_not_significant": "It is {points:+.2f} points against {base} on average over seeds, which is "
        "not significant (the paired 95% interval, {low:+.2f} to {high:+.2f}, includes 0).",
        "v_crossover": "{model} beats {base} significantly from {budget} labelled images on.",
        "v_crossover_all": "{model} beats {base} significantly only with all labelled images.",
        "v_small_test": "The test set has only {n} images: one image is {step:.2f} points, so smaller differences "
        "mean nothing here, whatever the intervals say.",
        "v_few_seeds": "With fewer than {min} seeds ({n} here) the run cannot tell significance: use --seeds {min} "
        "or more.",
        "v_random": "Backbones ran with random weights: this says nothing about ImageNet transfer.",
        "v_flat": "{models}: the backbone's pooled features are all but zero (largest {largest:.1e}), so these heads "
        "could only guess; random weights at small input sizes do this.",
        "v_flat_learned": "{models}: the backbone's pooled features are all but zero (largest {largest:.1e}), yet "
        "they still separate the classes once each feature is standardised, as a probe does; a head on the raw "
        "features could only guess.",
        "v_course": "The course recipe under-trains heads (Adam {lr:g}, an epoch cap of {epochs}): use the fair "
        "recipe before concluding that transfer loses.",
        "v_fast": "The fast recipe stops each head's search at {epochs} epochs on a falling learning rate, which can "
        "leave heads short of the fair recipe's accuracy: confirm a close result with --recipe fair.",
        "v_unfinished": "The run did not finish: some rows are missing (continue it with --resume).",
        "v_facts": "Dataset {dataset}: {pool} training images (before validation), {test} test images; "
        "input {px} px; weights {weights}; recipe {recipe}; run {date} UTC.",
        "class_report": "Classification report: {model}",
        "config": "Resolved configuration",
        "environment": "Environment",
        "dataset": "Dataset",
        "no_rows": "No row finished, so there is nothing to plot.",
        "generated": "Generated from {run} by transferbench {version}.",
    },
    "es": {
        "report_title": "Informe de transferbench",
        "recipe": "Receta de entrenamiento",
        "passes": "Pasadas hacia delante congeladas",
        "pass_at": "{backbone} a {px} px",
        "pass_cached": "rasgos leídos de la caché",
        "in_passes": " en {count} pasadas",
        "time_split": "En qué se fue el tiempo de entrenamiento",
        "r_epoch": "{count} época",
        "r_epochs": "{count} épocas",
        "r_course": "course: cabezas con Adam {lr} <= {epochs}, CNN con Adam {cnn_lr}, paciencia {patience}; ajuste "
        "fino con Adam {ft_lr} durante {ft_epochs}",
        "r_heads": "{recipe}: las cabezas prueban Adam {rates} ({search}; gana la menor pérdida de validación{cut})"
        "{length} {epochs}; CNN con Adam {cnn_lr} <= {cnn_epochs}; ajuste fino con Adam {ft_lr} <= {ft_epochs}; parada "
        "temprana por la pérdida de validación, paciencia {patience}, se guardan los mejores pesos",
        "r_cut": ", y una tasa se detiene cuando a su ritmo de sus últimas {window} épocas ya no puede alcanzar a la "
        "mejor",
        "r_constant": " durante <=",
        "r_cosine": ", cada tasa bajando a 0 a lo largo de un coseno de",
        "r_side-by-side": "en paralelo",
        "r_sequential": "una tras otra",
        "time_extraction": "extracción de rasgos",
        "time_heads": "cabezas (filas congeladas)",
        "time_fine_tuning": "ajuste fino",
        "time_scratch": "desde cero",
        "sizes_title": "Exactitud y coste frente al tamaño de entrada (mayor presupuesto, media sobre semillas)",
        "input_size": "Tamaño de entrada (píxeles por lado)",
        "train_seconds": "Segundos de entrenamiento (incl. extracción de rasgos)",
        "budget_title": "Exactitud en test frente a imágenes etiquetadas (media sobre semillas, IC 95%)",
        "grid_table_title": "Exactitud en test sobre la rejilla (media sobre semillas, intervalo del 95%):",
        "labelled_images": "Imágenes de entrenamiento etiquetadas (escala log)",
        "one_cell_note": (
            "Las figuras por modelo muestran una celda de la rejilla: presupuesto {budget}, semilla {seed}, {px} px."
        ),
        "curves_title": "Curvas de entrenamiento: transfer learning frente a CNN desde cero",
        "curves_title_plain": "Curvas de entrenamiento",
        "train_acc": "Precisión de entrenamiento",
        "val_acc": "Precisión de validación",
        "train_loss": "Pérdida de entrenamiento",
        "val_loss": "Pérdida de validación",
        "epoch": "Época",
        "train": "entrenamiento",
        "validation": "validación",
        "accuracy": "Precisión",
        "loss": "Pérdida",
        "phase_boundary": "inicio del fine-tuning",
        "bars_title": "Precisión en test por modelo",
        "seed_points_title": (
            "Precisión en test sobre semillas: media (rombo), intervalo del 95% (barra), cada semilla (punto)"
        ),
        "test_acc_pct": "Precisión en test (%)",
        "fmaps_title": "Mapas de características de {model} para una imagen de test (etiqueta {label})",
        "channel": "canal",
        "fmaps_section": "Mapas de características",
        "confusion_title": "Matriz de confusión: {model}",
        "predicted": "Predicho",
        "true": "Real",
        "examples_title": "Predicciones de {model} en 12 imágenes de test al azar",
        "mistakes_title": "Errores más seguros de {model}",
        "pred_true": "pred {pred} / real {true}\n{conf:.1%}",
        "comparison": "Comparación",
        "model": "Modelo",
        "weights": "Pesos",
        "phase": "Fase",
        "acc_pct": "Precisión (%)",
        "total_params": "Parámetros totales",
        "trainable_params": "Parámetros entrenables",
        "frozen_params": "Parámetros congelados",
        "pct_frozen": "% congelados",
        "time_s": "Tiempo (s)",
        "params_per_point": "Parámetros entrenables por punto de precisión",
        "status": "Estado",
        "best_model": "Mejor modelo",
        "best_sentence": "{model} con {acc:.2f}% de precisión en test.",
        "not_ok": "Filas que no se ejecutaron",
        "reason": "Motivo",
        "figures": "Figuras",
        "verdict": "La respuesta",
        "v_nothing": "Ninguna fila terminó, así que esta ejecución no puede responder.",
        "v_best": "Mejor: {model}, {acc:.2f}% de precisión en test, tras {seconds:.0f} s de entrenamiento con "
        "{params:,} parámetros entrenables.",
        "v_margin": "Supera a {other} por {points:.2f} puntos.",
        "v_margin_significant": "Supera a {other} por {points:.2f} puntos, de forma significativa sobre {n} "
        "semillas (intervalo del 95% pareado de {low:+.2f} a {high:+.2f}).",
        "v_margin_not_significant": "Supera a {other} por {points:.2f} puntos, lo que no es significativo sobre {n} "
        "semillas (el intervalo del 95% pareado, de {low:+.2f} a {high:+.2f}, incluye el 0).",
        "v_at_px": " a {px} px",
        "v_with_budget": " con {budget:,} imágenes etiquetadas",
        "v_with_all": " con todas las imágenes etiquetadas",
        "v_seed_of": "{label} (semilla {seeds})",
        "v_seeds_of": "{label} (semillas {seeds})",
        "v_near_chance": "Eso está cerca del azar ({chance:.2f}% con {classes} clases): ningún modelo aprendió "
        "mucho de estas imágenes, así que la comparación dice poco. Comprueba que cada clase tenga su propio tipo "
        "de imagen (un conjunto de carpetas: una subcarpeta por clase), o aporta más imágenes.",
        "v_tie": "Empata con {other} (la misma precisión en test): la ejecución no los separa.",
        "v_cnn_wins": "Ninguna fila de transferencia supera aquí a la CNN entrenada desde cero.",
        "v_scratch_wins": "{model} también se entrena desde cero: ninguna fila de transferencia lo supera aquí.",
        "v_transfer": "La transferencia",
        "v_no_transfer": (
            "Ninguna fila de transferencia terminó ({count} no se ejecutaron: ver abajo), así que esta ejecución no "
            "puede compararlas."
        ),
        "v_no_cnn": "No hay una fila {base} en la misma celda con la que comparar la transferencia.",
        "v_no_scratch": "Esta ejecución no tiene una CNN entrenada desde cero, así que no puede decir si la "
        "transferencia la supera: añade cnn a --models.",
        "v_vs_cnn_unknown": "Queda a {points:+.2f} puntos de {base}; esta ejecución no puede decir si eso supera "
        "el ruido entre semillas.",
        "v_vs_cnn_significant": "{who} supera a {base} por {points:+.2f} puntos de media sobre "
        "semillas, y la diferencia es significativa (intervalo del 95% pareado de {low:+.2f} a {high:+.2f}).",
        "v_vs_cnn_not_significant": "Queda a {points:+.2f} puntos de {base} de media sobre semillas, sin "
        "significación (el intervalo del 95% pareado, de {low:+.2f} a {high:+.2f}, incluye el 0).",
        "v_crossover": "{model} supera a {base} de forma significativa a partir de {budget} imágenes etiquetadas.",
        "v_crossover_all": "{model} supera a {base} de forma significativa solo con todas las imágenes etiquetadas.",
        "v_small_test": "El conjunto de test tiene solo {n} imágenes: una imagen vale {step:.2f} puntos, así que "
        "diferencias menores no significan nada aquí, digan lo que digan los intervalos.",
        "v_few_seeds": "Con menos de {min} semillas ({n} aquí) la ejecución no puede decir si hay significación: usa "
        "--seeds {min} o más.",
        "v_random": "Las redes base usaron pesos aleatorios: esto no dice nada de la transferencia desde ImageNet.",
        "v_flat": "{models}: las características de la red base son casi nulas (la mayor, {largest:.1e}), así que "
        "estas cabezas solo podían adivinar; los pesos aleatorios con entradas pequeñas hacen esto.",
        "v_flat_learned": "{models}: las características de la red base son casi nulas (la mayor, {largest:.1e}), "
        "pero aún separan las clases una vez estandarizada cada una, como hace una sonda; una cabeza sobre las "
        "características sin escalar solo podría adivinar.",
        "v_course": "La receta del curso entrena poco las cabezas (Adam {lr:g}, tope de épocas {epochs}): usa la "
        "receta fair antes de concluir que la transferencia pierde.",
        "v_fast": "La receta fast detiene la búsqueda de cada cabeza a las {epochs} épocas con una tasa de aprendizaje "
        "que baja, lo que puede dejar las cabezas por debajo de la precisión de la receta fair: confirma un resultado "
        "ajustado con --recipe fair.",
        "v_unfinished": "La ejecución no terminó: faltan filas (continúala con --resume).",
        "v_facts": "Datos {dataset}: {pool} imágenes de entrenamiento (antes de validación), {test} de test; "
        "entrada {px} px; pesos {weights}; receta {recipe}; ejecución {date} UTC.",
        "class_report": "Informe de clasificación: {model}",
        "config": "Configuración resuelta",
        "environment": "Entorno",
        "dataset": "Conjunto de datos",
        "no_rows": "Ninguna fila terminó, así que no hay nada que graficar.",
        "generated": "Generado a partir de {run} con transferbench {version}.",
    },
}


LANGS = tuple(STRINGS)  # the order of each RECORDED entry's templates

# Notes a run records in results.json, in English: (English template, Spanish). A report in Spanish shows a recorded
# note in Spanish where it matches an English template (its values kept as recorded), else as recorded.
RECORDED = {
    "fell_back": ("{note}; fell back to tf", "{note}; se volvió a tf"),
    "ov_missing": (
        "auto: OpenVINO is not installed (pip install -e '.[openvino]')",
        "auto: OpenVINO no está instalado (pip install -e '.[openvino]')",
    ),
    "too_short": (
        "auto: a pass over {images:,} images at {px} px is too short to repay converting it for OpenVINO, which "
        "needs {needed:,}; --engine openvino forces it",
        "auto: una pasada de {images} imágenes a {px} px es demasiado corta para compensar su conversión a OpenVINO, "
        "que necesita {needed}; --engine openvino la fuerza",
    ),
    "no_faster": (
        "auto: OpenVINO measured no faster for {name} at this size",
        "auto: OpenVINO no midió más rápido para {name} a este tamaño",
    ),
    "ov_failed": ("openvino failed ({kind}: {reason})", "openvino falló ({kind}: {reason})"),
    "ov_differs": (
        "openvino features differ from tensorflow's by {rel:.1e} relative (limit {limit:g})",
        "las características de openvino difieren de las de tensorflow en {rel} relativo (límite {limit})",
    ),
    "check": (
        "vs tensorflow max abs {abs:.2e}, max rel {rel:.2e}",
        "frente a tensorflow: diferencia absoluta máxima {abs}, relativa máxima {rel}",
    ),
    "int8_check": (
        "{count} calibration images; vs tensorflow fp32 max abs {abs:.2e}, max rel {rel:.2e}",
        "{count} imágenes de calibración; frente a tensorflow fp32: diferencia absoluta máxima {abs}, relativa "
        "máxima {rel}",
    ),
    "speeds": (
        "{engine} {fast:,.0f} vs tensorflow {tf:,.0f} images/s ({ratio:.2f}x) on {images} images",
        "{engine} {fast} frente a tensorflow {tf} imágenes/s ({ratio}x) en {images} imágenes",
    ),
}


def recorded(key, **values):
    """A note for results.json, in English."""
    return RECORDED[key][0].format(**values)


@functools.cache
def _pattern(template):
    """An English template as a regex with a named group per field (its format spec dropped)."""
    parts = [
        re.escape(text) + (f"(?P<{field}>.+?)" if field else "") for text, field, _, _ in Formatter().parse(template)
    ]
    return re.compile("".join(parts), re.DOTALL)


def translate_recorded(text, lang):
    """A recorded English note in `lang`: the first template it matches, its values translated in turn."""
    if lang == "en" or not text:
        return text
    for templates in RECORDED.values():
        found = _pattern(templates[0]).fullmatch(text)
        if found:
            values = {name: translate_recorded(value, lang) for name, value in found.groupdict().items()}
            return templates[LANGS.index(lang)].format(**values)
    return text


class Translator:
    """t(key, **values): the report's words in one language; t.recorded(text): a recorded note in it."""

    def __init__(self, lang):
        self.lang, self.table = lang, STRINGS[lang]

    def __call__(self, key, **values):
        return self.table[key].format(**values) if values else self.table[key]

    def recorded(self, text):
        return translate_recorded(text, self.lang)


def translator(lang):
    """The Translator of one language."""
    return Translator(lang)
