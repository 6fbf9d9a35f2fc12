"""`transferbench serve` in a real browser: Debian's chromium driven by Selenium draws digits on the page's canvas,
asks every model, looks inside one, and uploads a file that is not an image."""

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow  # trains a CNN, starts a server and a browser

webdriver = pytest.importorskip("selenium.webdriver")
pytest.importorskip("starlette")
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="apt-get install chromium chromium-driver (.ci/run does)"
)
STROKES = {  # points relative to the canvas centre, one list per stroke
    "1": [[(5, -95), (0, 0), (-5, 95)]],
    "0": [[(round(55 * math.sin(a * math.pi / 6)), round(-85 * math.cos(a * math.pi / 6))) for a in range(13)]],
    "7": [[(-60, -85), (60, -85), (-5, 95)]],
}


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(digit_run):
    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "transferbench.cli", "serve", str(digit_run), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "api/models", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read())
            time.sleep(0.5)
    yield url
    proc.terminate()  # our own child, by its handle
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _draw(driver, digit):
    from selenium.webdriver.common.action_chains import ActionChains

    pad = driver.find_element("id", "pad")
    driver.find_element("id", "clear").click()
    for stroke in STROKES[digit]:
        actions = ActionChains(driver).move_to_element_with_offset(pad, *stroke[0]).click_and_hold()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for step in range(1, 7):  # short moves, as a hand makes
                actions.move_to_element_with_offset(pad, x0 + (x1 - x0) * step // 6, y0 + (y1 - y0) * step // 6)
        actions.release().perform()


def _answers(driver, count, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: len(d.find_elements("css selector", ".card")) == count)
    return {
        card.get_attribute("data-model"): card.find_element("css selector", ".answer").get_attribute("data-class")
        for card in driver.find_elements("css selector", ".card")
    }


@needs_browser
def test_every_model_answers_and_the_cnn_reads_drawn_digits(server, browser, digit_run, tmp_path):
    browser.get(server)
    models = [p.stem for p in (digit_run / "models").glob("*.keras")]
    for digit in STROKES:
        _draw(browser, digit)
        browser.find_element("id", "ask").click()
        answers = _answers(browser, len(models))
        assert set(answers) == set(models)
        assert answers["cnn"] == digit, (digit, answers)
        bars = browser.find_elements("css selector", ".card[data-model='cnn'] .bar")
        assert len(bars) == 3 and browser.find_element("css selector", ".card[data-model='cnn'] img").size["width"] > 0
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("TRANSFERBENCH_SCREENSHOT"):  # how docs/serve-page.png is made
        browser.save_screenshot(os.environ["TRANSFERBENCH_SCREENSHOT"])


@needs_browser
def test_inside_a_model_shows_feature_maps_and_a_heat_map(server, browser):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(server)
    _draw(browser, "7")
    browser.find_element("id", "ask").click()
    _answers(browser, 2)
    Select(browser.find_element("id", "model")).select_by_visible_text("cnn")
    Select(browser.find_element("id", "layer")).select_by_visible_text("conv2")
    browser.find_element("id", "look").click()
    WebDriverWait(browser, 60).until(lambda d: len(d.find_elements("css selector", "#explained img")) == 2)
    text = browser.find_element("id", "explained").text
    assert "cnn answers 7" in text and "conv2" in text


@needs_browser
def test_a_bad_upload_is_a_message_and_the_server_goes_on(server, browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server)
    (tmp_path / "notes.png").write_text("not an image at all")
    browser.find_element("id", "upload").send_keys(str(tmp_path / "notes.png"))
    WebDriverWait(browser, 30).until(lambda d: d.find_element("id", "error").text)
    assert "not a readable image" in browser.find_element("id", "error").text
    _draw(browser, "1")
    browser.find_element("id", "ask").click()
    assert _answers(browser, 2)["cnn"] == "1"
    assert browser.find_element("id", "error").text == ""


def test_uploads_are_bounded_and_blank_images_refused(server):
    import json

    def post(data):
        request = urllib.request.Request(server + "api/predict", data=data, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    import http.client
    from urllib.parse import urlparse

    where = urlparse(server)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    connection.putrequest("POST", "/api/predict")
    connection.putheader("Content-Length", str(5 * 1024 * 1024))  # declared: refused before it is sent
    connection.endheaders()
    connection.send(b"\0" * 1024)
    response = connection.getresponse()
    assert response.status == 400 and "limit is 4,194,304" in json.loads(response.read())["error"]
    connection.close()
    import io

    from PIL import Image

    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    status, body = post(blank.getvalue())
    assert status == 400 and "no ink found" in body["error"]


def test_the_page_answers_each_model_on_its_engine(server):
    """auto: OpenVINO for the backbone where it measured faster (when installed), TensorFlow for the CNN."""
    from transferbench.engines import openvino_available

    listed = json.loads(urllib.request.urlopen(server + "api/models", timeout=30).read())["models"]
    engines = {m["id"]: m["engine"] for m in listed}
    assert engines == {"mobilenetv2": "openvino" if openvino_available() else "tf", "cnn": "tf"}


def test_the_page_asks_for_a_digit_only_where_the_run_reads_digits(server):
    from types import SimpleNamespace

    from transferbench.serve import page_html, page_subject

    page = urllib.request.urlopen(server, timeout=30).read().decode()
    assert "Draw a digit with the mouse or a finger" in page  # the digit run the server serves
    shapes = SimpleNamespace(convention="folder", class_names=["circle", "square", "triangle"])
    assert page_subject(shapes) == "one of its classes (circle, square, triangle)"
    many = SimpleNamespace(convention="resize", class_names=[f"c{i}" for i in range(10)])
    assert page_subject(many) == "one of its classes (c0, c1, c2, c3, c4, c5, …)"
    odd = SimpleNamespace(convention="folder", class_names=["<b>cat</b>", "dog"])
    html = page_html(odd, "run <i>1</i>")
    assert "<b>cat" not in html and "&lt;b&gt;cat&lt;/b&gt;" in html and "run &lt;i&gt;1&lt;/i&gt;" in html
