"""report.html renders with its images in headless Chromium (skipped where Chromium is not installed:
`apt-get install chromium`, which .ci/run does when it is missing)."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # trains real rows or runs the CLI end to end

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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
