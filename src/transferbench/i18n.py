"""Every word of the report and its figures, in English and Spanish."""

STRINGS = {
    "en": {
        "report_title": "transferbench report",
        "curves_title": "Training curves: transfer learning vs CNN from scratch",
        "train_acc": "Training accuracy", "val_acc": "Validation accuracy",
        "train_loss": "Training loss", "val_loss": "Validation loss",
        "epoch": "Epoch", "accuracy": "Accuracy", "loss": "Loss",
        "phase_boundary": "start of fine-tuning",
        "bars_title": "Test accuracy by model", "test_acc_pct": "Test accuracy (%)",
        "fmaps_title": "Feature maps of {model} for one test image (label {label})",
        "channel": "channel", "fmaps_section": "Feature maps",
        "confusion_title": "Confusion matrix: {model}", "predicted": "Predicted", "true": "True",
        "examples_title": "Predictions of {model} on 12 random test images",
        "mistakes_title": "Most confident mistakes of {model}",
        "pred_true": "pred {pred} / true {true}\n{conf:.1%}",
        "comparison": "Comparison", "model": "Model", "weights": "Weights", "phase": "Phase",
        "acc_pct": "Accuracy (%)", "total_params": "Total params", "trainable_params": "Trainable params",
        "frozen_params": "Frozen params", "pct_frozen": "% frozen", "time_s": "Time (s)",
        "params_per_point": "Trainable params per accuracy point", "status": "Status",
        "best_model": "Best model", "best_sentence": "{model} with {acc:.2f}% test accuracy.",
        "not_ok": "Rows that did not run", "reason": "Reason",
        "figures": "Figures", "class_report": "Classification report: {model}",
        "config": "Resolved configuration", "environment": "Environment", "dataset": "Dataset",
        "no_rows": "No row finished, so there is nothing to plot.",
        "generated": "Generated from {run} by transferbench {version}.",
    },
    "es": {
        "report_title": "Informe de transferbench",
        "curves_title": "Curvas de entrenamiento: transfer learning frente a CNN desde cero",
        "train_acc": "Precisión de entrenamiento", "val_acc": "Precisión de validación",
        "train_loss": "Pérdida de entrenamiento", "val_loss": "Pérdida de validación",
        "epoch": "Época", "accuracy": "Precisión", "loss": "Pérdida",
        "phase_boundary": "inicio del fine-tuning",
        "bars_title": "Precisión en test por modelo", "test_acc_pct": "Precisión en test (%)",
        "fmaps_title": "Mapas de características de {model} para una imagen de test (etiqueta {label})",
        "channel": "canal", "fmaps_section": "Mapas de características",
        "confusion_title": "Matriz de confusión: {model}", "predicted": "Predicho", "true": "Real",
        "examples_title": "Predicciones de {model} en 12 imágenes de test al azar",
        "mistakes_title": "Errores más seguros de {model}",
        "pred_true": "pred {pred} / real {true}\n{conf:.1%}",
        "comparison": "Comparación", "model": "Modelo", "weights": "Pesos", "phase": "Fase",
        "acc_pct": "Precisión (%)", "total_params": "Parámetros totales", "trainable_params": "Parámetros entrenables",
        "frozen_params": "Parámetros congelados", "pct_frozen": "% congelados", "time_s": "Tiempo (s)",
        "params_per_point": "Parámetros entrenables por punto de precisión", "status": "Estado",
        "best_model": "Mejor modelo", "best_sentence": "{model} con {acc:.2f}% de precisión en test.",
        "not_ok": "Filas que no se ejecutaron", "reason": "Motivo",
        "figures": "Figuras", "class_report": "Informe de clasificación: {model}",
        "config": "Configuración resuelta", "environment": "Entorno", "dataset": "Conjunto de datos",
        "no_rows": "Ninguna fila terminó, así que no hay nada que graficar.",
        "generated": "Generado a partir de {run} con transferbench {version}.",
    },
}


def translator(lang):
    """A function t(key, **values) for one language."""
    table = STRINGS[lang]
    return lambda key, **values: table[key].format(**values) if values else table[key]
