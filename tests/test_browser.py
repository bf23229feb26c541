"""The built book in a real browser: math typeset, images loaded, no errors.

Every page listed in ``_toc.yml`` is opened in headless Chromium, served from
``_build/html`` by a local web server on 127.0.0.1, and checked for:

1. math: MathJax 3 typeset every formula (``mjx-container`` elements, no
   MathJax error, no raw ``$$`` or ``\\(`` left in the text);
2. images: every ``<img>`` loaded (``naturalWidth > 0``);
3. errors: nothing on the browser console, no failed request, and no request
   outside the local server (the book must work offline, MathJax included).

A screenshot of each page goes to ``_build/screenshots/``. Build the book
first (``make book``); set ``ZIPTIE_BOOK_HTML`` to check another build.
Needs Debian's Chromium and its driver::

    apt-get install -y chromium chromium-driver
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ziptie.doctor import toc_files

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("ZIPTIE_BOOK_HTML", REPO / "_build" / "html"))
# The book that produced HTML (``<book>/_build/html``); its _toc.yml lists
# the pages to check, so a new chapter is covered without editing this file.
BOOK = HTML.parent.parent
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("ZIPTIE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ZIPTIE_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
WIDTH, HEIGHT = 1280, 1000                 # the browser window, in CSS pixels
MAX_SHOT_HEIGHT = 16_000                   # screenshots of longer pages are cut

# Raw TeX that MathJax should have replaced (outside code blocks).
RAW_TEX = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{"
    r"|\$[^$\s][^$\n]*[\\^_{}][^$\n]*\$"    # $...$ that looks like TeX
)

# URLs that reach a server; chrome://, data: and blob: ones stay inside.
NETWORK = ("http:", "https:", "ws:", "wss:", "ftp:")

pytestmark = pytest.mark.slow


def _pages() -> list[str]:
    toc_path = BOOK / "_toc.yml"
    if not toc_path.is_file():
        toc_path = REPO / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    return [str(Path(f).with_suffix("")) for f in toc_files(toc)]


class _Server(ThreadingHTTPServer):
    """Serves HTML on 127.0.0.1 and remembers every request it answered."""

    daemon_threads = True

    def __init__(self) -> None:
        self.answered: list[tuple[str, int]] = []
        handler = functools.partial(_Handler, directory=str(HTML))
        super().__init__(("127.0.0.1", 0), handler)


class _Handler(SimpleHTTPRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        self.server.answered.append((self.path, int(code)))

    def log_message(self, format, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server():
    if not HTML.is_dir():
        pytest.skip(f"the book is not built ({HTML} does not exist): "
                    f"run `make book` first")
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(server):
    for path, what in ((CHROMIUM, "Chromium"), (CHROMEDRIVER, "chromedriver")):
        if not Path(path).is_file():
            pytest.fail(f"{what} not found at {path}: the book's browser "
                        f"test needs it. Install it with `{INSTALL}`.")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: "
                    "pip install -r requirements.txt")

    profile = tempfile.mkdtemp(prefix="ziptie-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={profile}",
        # Offline for sure: any host but the local server fails to resolve
        # (and is still reported below as a request that left the book).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs",
                           {"browser": "ALL", "performance": "ALL"})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")   # Selenium Manager downloads nothing
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER),
                                  options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    driver.get("about:blank")               # leave Chromium's start page
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# Runs in the page once it has loaded: waits for MathJax and every image,
# then reports what a reader would see.
_INSPECT = """
const done = arguments[arguments.length - 1];
(async () => {
  // two browsers on a busy machine: the page may still be settling
  for (let t = 0; t < 100 && !(document.readyState === "complete" &&
                               document.body); t++) {
    await new Promise((ok) => setTimeout(ok, 100));
  }
  let mathjax = "not on this page";
  if (window.MathJax !== undefined) {
    // a busy machine may run the script a little after the page's load
    for (let t = 0; t < 200 && !(MathJax.startup && MathJax.startup.promise);
         t++) {
      await new Promise((ok) => setTimeout(ok, 100));
    }
    if (!(MathJax.startup && MathJax.startup.promise)) {
      mathjax = "configured but tex-chtml.js never ran";
    } else {
      await MathJax.startup.promise;
      mathjax = "ready";
    }
  }
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  await Promise.all(images.map((img) => img.complete ? null :
    new Promise((ok) => { img.onload = img.onerror = ok; })));
  const math = [...document.querySelectorAll(".math")];
  const text = document.body.cloneNode(true);
  text.querySelectorAll("pre, code, script, style, mjx-container")
    .forEach((node) => node.remove());
  done({
    mathjax: mathjax,
    math: math.length,
    untypeset: math.filter((m) => !m.querySelector("mjx-container"))
      .map((m) => m.textContent.trim().slice(0, 80)),
    errors: [...document.querySelectorAll("mjx-merror")]
      .map((e) => e.getAttribute("data-mjx-error") || e.textContent)
      .concat([...document.querySelectorAll('mtext[mathcolor="red"]')]
        .map((e) => e.textContent)
        .filter((t) => t.startsWith("\\\\"))   // an undefined macro
        .map((t) => `undefined macro ${t}`)),
    images: images.map((img) => ({src: img.currentSrc || img.src,
                                  width: img.naturalWidth})),
    text: text.textContent,
  });
})().catch((err) => done({failed: String(err)}));
"""


def _network(driver, base: str) -> tuple[list[str], list[str]]:
    """Requests that left the local server, and requests that failed."""
    urls, outside, failed = {}, [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if url.startswith(NETWORK) and not url.startswith(base):
                outside.append(url)
        elif method == "Network.responseReceived":
            url, status = params["response"]["url"], params["response"]["status"]
            # The browser asks for /favicon.ico on its own; the book has none.
            if status >= 400 and url != base + "favicon.ico":
                failed.append(f"{url} ({status})")
        elif method == "Network.loadingFailed":
            url = urls.get(params["requestId"], params["requestId"])
            failed.append(f"{url} ({params.get('errorText', 'failed')})")
    return outside, failed


def _screenshot(driver, page: str) -> Path:
    """The whole page as a PNG: the window is made as tall as the page.

    (Chrome's ``captureBeyondViewport`` can shift a long page sideways.)
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    frame = driver.execute_script("return outerHeight - innerHeight")
    height = driver.execute_script(
        "return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(height, MAX_SHOT_HEIGHT) + frame)
    path = SCREENSHOTS / (page.replace("/", "__") + ".png")
    path.write_bytes(driver.get_screenshot_as_png())
    driver.set_window_size(WIDTH, HEIGHT)
    return path


@pytest.mark.parametrize("page", _pages())
def test_page_renders_in_a_browser(page, server, browser):
    html = HTML / f"{page}.html"
    if not html.is_file():
        pytest.fail(f"{page} is in _toc.yml but {html} was not built: "
                    f"run `make book`", pytrace=False)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    browser.get_log("browser")             # forget the previous page
    browser.get_log("performance")
    server.answered.clear()

    browser.get(base + f"{page}.html")
    seen = browser.execute_async_script(_INSPECT)
    assert "failed" not in seen, f"inspecting {page} failed: {seen}"
    shot = _screenshot(browser, page)
    console = [f"{e['level']}: {e['message']}"
               for e in browser.get_log("browser") if e["level"] == "SEVERE"
               and not e["message"].startswith(base + "favicon.ico")]
    outside, failed = _network(browser, base)
    failed += [f"{base}{path.lstrip('/')} ({code})"
               for path, code in server.answered
               if code >= 400 and path != "/favicon.ico"]
    failed = sorted(set(failed))

    text = " ".join(seen["text"].split())
    raw = sorted({text[max(m.start() - 30, 0):m.end() + 30]
                  for m in RAW_TEX.finditer(text)})
    broken = [img["src"] for img in seen["images"] if img["width"] == 0]
    problems = {
        "requests outside the book (it must work offline)": outside,
        "failed requests": failed,
        "console errors": console,
        "formulas MathJax left as TeX": seen["untypeset"],
        "MathJax errors": seen["errors"],
        "raw TeX shown as text": raw,
        "images that did not load": broken,
    }
    if seen["math"] and seen["mathjax"] != "ready":
        problems["MathJax"] = [seen["mathjax"]]
    report = [f"  {what}:\n" + "\n".join(f"    {item}" for item in items[:10])
              for what, items in problems.items() if items]
    if report:
        pytest.fail(f"{page} (screenshot: {shot}):\n" + "\n".join(report),
                    pytrace=False)
