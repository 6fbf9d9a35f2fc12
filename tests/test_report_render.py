"""report.html renders with its images in headless Chromium (skipped where Chromium is not installed:
`apt-get install chromium`, which .ci/run does when it is missing)."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # trains real rows or runs the CLI end to end

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_report_renders_with_images(tmp_path):
    from transferbench.cli import main

    run = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--models",
                "cnn",
                "--train-limit",
                "300",
                "--test-limit",
                "100",
                "--recipe",
                "course",
                "--epochs",
                "1",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    page = run / "report.html"
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert pixels.var() > 100  # text, table and figures, not a blank page
    assert (np.abs(pixels[..., 0] - pixels[..., 2]) > 60).mean() > 0.005  # coloured plot pixels: images loaded


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="Chromium or chromedriver is not installed")
def test_the_comparison_table_fits_the_page_with_a_long_weights_file_name(tmp_path):
    """A --weights-file label (file name + sha256) wraps inside its column instead of pushing the status column
    off a 1200 px window."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from transferbench.i18n import translator
    from transferbench.records import RowResult, RunRecord
    from transferbench.reporting import _html, _table

    label = "file:mobilenet_v2_1.00_224_imagenet_from_tflite_notop.weights.h5 sha256:61fe74387a8f"
    rows = [
        RowResult(
            id=f"mobilenetv2_finetuned@all-s{seed}",
            name="mobilenetv2_finetuned",
            phase="fine_tuned",
            seed=seed,
            weights=label,
            test_accuracy=0.9306,
            test_loss=0.2303,
            total_params=2_423_242,
            trainable_params=1_828_618,
            non_trainable_params=594_624,
            train_seconds=7.1,
        )
        for seed in (42, 43)
    ]
    grid = {"seeds": [42, 43], "budgets": ["all"], "input_sizes": [96]}
    record = RunRecord(config={}, dataset={}, grid=grid, recipe="", environment={}, rows=rows, finished=True)
    t = translator("en")
    page = tmp_path / "report.html"
    page.write_text(_html(record, *_table(rows, t), [], t, tmp_path), encoding="utf-8")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        overflow = driver.execute_script(
            "const w = document.querySelector('.wide'); return w.scrollWidth - w.clientWidth"
        )
        status = driver.execute_script("return document.querySelector('tr:nth-child(2) td:last-child').textContent")
    finally:
        driver.quit()
    assert overflow <= 0 and status == "ok"
