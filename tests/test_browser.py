"""The built book in a real browser: headless Debian Chromium, pages served on localhost, network cut off.

For every page in _toc.yml: it loads with no JavaScript error and no local resource missing, nothing is fetched
from another host except images (the Colab badge), math is typeset by the book's own MathJax, chapter
notebooks show their figures and a Colab link to this very notebook, and every static widget fallback changes
its frame when its slider is moved and when play is pressed. Screenshots go to _build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml
from test_hygiene import BRANCH, OWNER_REPO, _toc_files

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "_build" / "screenshots"


def _need_browser():
    missing = [b for b in ("chromium", "chromedriver") if shutil.which(b) is None]
    if missing:
        msg = f"{missing} not installed (bash scripts/install_browser.sh)"
        if os.environ.get("L2O_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_book))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module", autouse=True)
def load_time_report():
    """After the pages: print their load times and write them to _build/page_load_times.yml (a benchmark: printed,
    never asserted, since a loaded machine is slow)."""
    yield
    if LOAD_TIMES:
        print("\n| page | load (s) |\n|---|---|")
        for entry, seconds in LOAD_TIMES.items():
            print(f"| {entry} | {seconds:.2f} |")
        SHOTS.parent.mkdir(parents=True, exist_ok=True)
        (ROOT / "_build" / "page_load_times.yml").write_text(yaml.safe_dump({k: round(v, 3) for k, v in LOAD_TIMES.items()}))


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    webdriver = _need_browser()
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1600",
                 # a workshop room without network: every host but this machine is unreachable
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


PAGES = _toc_files()
#: console messages that are not errors of the book: the theme logs this (as console.error) on a fresh profile.
BENIGN = ('"Got invalid theme mode: . Resetting to auto."',)
LOAD_TIMES: dict[str, float] = {}


def _wait(driver, js: str, timeout: float = 20.0):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(js)
        if value:
            return value
        time.sleep(0.1)
    return driver.execute_script(js)


@pytest.mark.parametrize("entry", PAGES)
def test_page_in_browser(entry, server, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get_log("browser")  # drop what earlier pages left
    t0 = time.perf_counter()
    driver.get(f"{server}/{entry}.html")
    _wait(driver, "return document.readyState === 'complete'")
    LOAD_TIMES[entry] = time.perf_counter() - t0
    has_math = bool(driver.execute_script("return document.querySelectorAll('.math, span.math, div.math').length"))
    if has_math:
        typeset = _wait(driver, "return document.querySelectorAll('mjx-container').length")
        assert typeset, f"{entry}: math present but not typeset by MathJax"
        assert driver.execute_script("return !!(window.MathJax && window.MathJax.version)"), "MathJax not loaded"
    # printed output wraps at the column (book.css): nothing a projector would cut off
    wide = driver.execute_script(
        "return Array.from(document.querySelectorAll('div.cell_output pre, div.output pre'))"
        ".filter(p => p.scrollWidth > p.clientWidth + 2).map(p => p.textContent.slice(0, 60))")
    assert not wide, f"{entry}: printed output wider than the text column: {wide[:3]}"
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(r => [r.name, r.initiatorType])")
    foreign = [(n, kind) for n, kind in resources if not n.startswith(server) and not n.startswith("data:") and kind != "img"]
    assert not foreign, f"{entry}: fetched from other hosts (must be served by the book): {foreign[:5]}"

    name = entry.split("/")[-1]
    if re.match(r"\d\d_|scorecard|workshop", name):
        imgs = driver.execute_script(
            "return Array.from(document.querySelectorAll('.cell_output img, .output img'))"
            ".filter(i => i.complete && i.naturalWidth > 0).length")
        if re.match(r"\d\d_", name):
            assert imgs > 0, f"{entry}: no rendered figure"
        colab = f"colab.research.google.com/github/{OWNER_REPO}/blob/{BRANCH}/students/{name}.ipynb"  # the student notebook
        links = driver.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.href)")
        assert any(colab in h for h in links), f"{entry}: no Colab link to {colab}"
        if re.match(r"\d\d_", name):  # the badge image is served by the book, so it shows offline too
            badge = driver.execute_script(
                "return Array.from(document.querySelectorAll('img[alt=\"Open In Colab\"]'))"
                ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
            assert badge and all(ok for _, ok in badge), f"{entry}: Colab badge image not shown: {badge}"

    widgets = driver.find_elements(By.CSS_SELECTOR, "div.l2o-static-widget")
    for w in widgets:
        before = w.get_attribute("data-frame")
        src_before = w.find_element(By.CSS_SELECTOR, "img.l2o-static-frame").get_attribute("src")
        slider = w.find_elements(By.CSS_SELECTOR, "input.l2o-static-slider")[-1]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
        slider.click()
        slider.send_keys(Keys.ARROW_RIGHT)
        time.sleep(0.2)
        after = w.get_attribute("data-frame")
        assert after != before, f"{entry}: static widget did not change frame on slider input"
        assert w.find_element(By.CSS_SELECTOR, "img.l2o-static-frame").get_attribute("src") != src_before
        # play steps the last axis every 400 ms, cyclically: watch for the first change (an axis of two values
        # is back where it started after two steps, so a single look after a fixed wait can miss it)
        w.find_element(By.CSS_SELECTOR, "button.l2o-static-play").click()
        played, deadline = after, time.monotonic() + 5.0
        while played == after and time.monotonic() < deadline:
            time.sleep(0.05)
            played = w.get_attribute("data-frame")
        w.find_element(By.CSS_SELECTOR, "button.l2o-static-play").click()
        assert played != after, f"{entry}: play did not advance the static widget within 5 s"

    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SHOTS / f"{name}.png"))

    logs = driver.get_log("browser")
    js_errors = [e["message"] for e in logs if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
                 and not any(b in e["message"] for b in BENIGN)]
    assert not js_errors, f"{entry}: JavaScript errors: {js_errors[:5]}"
    missing_local = [e["message"] for e in logs if "Failed to load resource" in e["message"] and server in e["message"]
                     and "/favicon.ico" not in e["message"]]  # the browser asks for one; the book has none
    assert not missing_local, f"{entry}: local resources missing: {missing_local[:5]}"
