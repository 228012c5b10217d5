"""The canvas page in a real browser (Debian's Chromium via Playwright) against the local server.

MNIST test digits are replayed as pointer strokes onto the canvas; the page must
show the right digit, ten probabilities and a centred 28x28 preview. Also: the
API's errors in plain words (the old answer cleared, the badge over the canvas
saying why), dots, dashes and inked-over canvases refused before sending, an
unreachable or slow API, a request cancelled by a newer stroke (also while its
answer is half read), touch input on a 360 px phone, ink under the pointer, focus
and undo (the drawing answered brought back has its answer again, unasked), the backing
store at the displayed size, the page on one origin calling the API on another (CORS, no
preflight), what a screen reader hears (each thing once), an answer under even odds shown
as unsure (its runner-up named),
the canvas edge's contrast, and axe-core's accessibility rules in both colour schemes.
The page's timed behaviour (the live delay, the announcement's, the request timeout) is
checked on Playwright's fake clock, stopped until a test moves it on: never a sleep.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx2
import numpy as np
import publisher
import pytest
from conftest import skip_or_fail

from tests.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    centre_of_mass,
    contrast_ratio,
    css_rgb,
    dark_pixels,
    digit_strokes,
    draw,
    ink_centre,
    read_canvas,
    settle,
    site_csp,
    stalling_server,
    static_server,
    stop_clock,
    touch_draw,
)
from tests.server_helpers import free_port, local_server
from tools.paths import ROOT

# As functions/predict/app.py words it (tests/test_handler_events.py pins it there).
MODEL_UNAVAILABLE = ("model unavailable: the model could not be loaded (ModelFileError); "
                     "the function's log says why")

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}  # the narrowest phone the README promises
SMALL_PHONE = {"width": 360, "height": 640}  # the result card is below the fold
BRUSH = 13  # canvas units: rows of a 10x digit are 10 apart, so runs overlap into one shape
N_DIGITS = 5
WAIT_MS = 15_000
# The page's timings, as README states them (static_site/app.js, api.js).
LIVE_DELAY_MS = 250  # live, "the answer appears a quarter of a second after you lift the pen"
ANNOUNCE_MS = 1000  # live, announced "once the drawing has rested for a second"
TIMEOUT_MS = 8000  # "takes longer than 8 s": no config.json timeoutMs
LONG_AFTER_MS = 10 * LIVE_DELAY_MS  # well past the live delay: anything due has happened


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} missing: `make test` installs Debian's chromium when root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site_port() -> int:
    """The port of the page's own origin in the cross-origin test (the API allows it)."""
    return free_port()


@pytest.fixture(scope="module")
def api_url(site_port: int) -> Iterator[str]:
    origin = f"http://127.0.0.1:{site_port}"
    with local_server(env={"CORS_ALLOW_ORIGINS": origin}) as url:
        health = httpx2.get(url + "/health", timeout=5)
        assert health.status_code == 200, f"model not loaded: {health.text}"
        yield url


@pytest.fixture
def blank_page(browser):
    """A desktop page, not yet opened: a test sets its routes, then calls `_open`."""
    context = browser.new_context(viewport=DESKTOP)
    yield context.new_page()
    context.close()


def _checked_page(page, api_url: str) -> Iterator:
    errors: list[str] = []
    urls: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: urls.append(r.url))
    _open(page, api_url)
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"
    elsewhere = [u for u in urls if not u.startswith((api_url + "/", "data:"))]
    assert not elsewhere, f"the page fetched from another origin (no CDN allowed): {elsewhere}"


@pytest.fixture
def page(blank_page, api_url):
    yield from _checked_page(blank_page, api_url)


@pytest.fixture
def still_page(blank_page, api_url):
    """As `page`, on a fake clock stopped from the start: the page's timers fire only
    when the test runs the clock on (page.clock.run_for)."""
    stop_clock(blank_page)
    yield from _checked_page(blank_page, api_url)


@pytest.fixture(scope="module")
def one_of_each(api_url, mnist_dir: Path) -> list[tuple[np.ndarray, int]]:
    """A test digit of each label, in test-set order, that the served model reads right,
    and surely, from its own pixels."""
    from training.idx import load_split

    test = load_split(mnist_dir, "t10k")
    chosen: list[tuple[np.ndarray, int]] = []
    for image, label in zip(test.images[:200], test.labels[:200], strict=True):
        if int(label) in {lab for _, lab in chosen}:
            continue
        pixels = np.rint(image * 255).astype(int).ravel().tolist()
        answer = httpx2.post(api_url + "/predict", json={"pixels": pixels}, timeout=5).json()
        if answer["digit"] == label and answer["confidence"] >= 0.99:
            chosen.append((image, int(label)))
        if len(chosen) == 10:
            return chosen
    pytest.fail(f"only {len(chosen)} clear digits among the first 200 test images")


@pytest.fixture(scope="module")
def clear_digits(one_of_each) -> list[tuple[np.ndarray, int]]:
    return one_of_each[:N_DIGITS]


def _open(page, site_url: str) -> None:
    page.goto(site_url + "/")
    page.wait_for_selector("body[data-ready=true]")


def _predict_a_bar_expecting_error(page) -> None:
    """Live prediction off, a vertical bar drawn, the button pressed: the page shows an error."""
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    page.click("#predict")
    assert _wait_phase(page, "error") == "error"


def _wait_api_state(page, state: str = "ready") -> None:
    # A function, not an expression: Playwright evals it once, in its own call, which the
    # deployed CSP lets through; an expression is evaled on every poll, and refused.
    page.wait_for_function("s => document.getElementById('api-status').dataset.state === s",
                           arg=state, timeout=WAIT_MS)


def _set_brush(page, size: int) -> None:
    page.fill("#brush-size", str(size))
    assert page.input_value("#brush-size") == str(size)


def _wait_phase(page, *phases: str) -> str:
    page.wait_for_function(
        "phases => phases.includes(document.getElementById('result').dataset.phase)",
        arg=list(phases), timeout=WAIT_MS,
    )
    return _phase(page)


def _phase(page) -> str:
    return page.get_attribute("#result", "data-phase")


def _a_dash_then_a_five_live(page, sent: list[str]) -> None:
    """Live, on the stopped clock: a 5's bar (under 2.5 brushes long) is looked at once the
    live delay is up and not sent (a request would have made the page "busy"); the rest
    of the 5 is sent a live delay after the pen lifts."""
    draw(page, [[(0.45, 0.15), (0.55, 0.15)]])
    page.clock.run_for(LONG_AFTER_MS)
    assert page.inner_text("#verdict-text") == "No digit yet: keep drawing."
    assert (_phase(page), sent) == ("pending", [])
    draw(page, [[(0.3, 0.15), (0.3, 0.5), (0.7, 0.55), (0.7, 0.8), (0.3, 0.85)]])
    with page.expect_request("**/predict"):
        page.clock.run_for(LIVE_DELAY_MS)


def _predict_requests(page) -> list[str]:
    """The /predict requests the page makes from now on, as Playwright sees them."""
    sent: list[str] = []
    page.on("request", lambda r: r.url.endswith("/predict") and sent.append(r.url))
    return sent


def _shown_probabilities(page) -> list[float]:
    values = page.eval_on_selector_all(".prob", "els => els.map(e => e.dataset.p)")
    return [float(v) for v in values]


def _preview_ink(page) -> np.ndarray:
    """The preview canvas (light ink on black) as a 28x28 ink map in [0, 1]."""
    return read_canvas(page, "#seen")[..., 0].astype(float) / 255


def test_replayed_mnist_digits_are_recognised(page, clear_digits):
    page.uncheck("#live")  # predictions on demand here; live mode has its own test
    _set_brush(page, BRUSH)
    for image, label in clear_digits:
        if page.is_enabled("#clear"):
            page.click("#clear")
        draw(page, digit_strokes(image))
        with page.expect_response("**/predict") as response:
            page.click("#predict")
        assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
        model = response.value.json()["model"]
        assert page.inner_text("#model-name") == f"{model['name']} {model['version']}"

        assert page.inner_text("#digit") == str(label)
        probs = _shown_probabilities(page)
        assert len(probs) == 10
        assert sum(probs) == pytest.approx(1.0, abs=1e-3)
        assert max(probs) == probs[label]
        assert page.inner_text("#confidence").endswith("%")
        assert page.locator(".prob.top").get_attribute("data-digit") == str(label)

        seen = _preview_ink(page)
        assert seen.sum() > 20, "the preview of what the model saw is blank"
        row, col = centre_of_mass(seen)
        assert abs(row - 14) <= 1.0
        assert abs(col - 14) <= 1.0
        # The model saw the digit that was drawn: the preview resembles the MNIST image.
        assert np.corrcoef(seen.ravel(), image.ravel())[0, 1] > 0.5
    ARTIFACTS.mkdir(exist_ok=True)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "site-desktop.png"), full_page=True)


def test_live_prediction_after_a_stroke(still_page, clear_digits):
    page = still_page
    sent = _predict_requests(page)
    image, label = clear_digits[0]
    _set_brush(page, BRUSH)
    draw(page, digit_strokes(image))  # no button: the page asks 250 ms after the last stroke
    page.clock.run_for(LIVE_DELAY_MS - 1)
    assert (_phase(page), sent) == ("pending", []), "asked before the live delay was up"
    with page.expect_request("**/predict"):
        page.clock.run_for(1)
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.inner_text("#digit") == str(label)
    # Announced once the drawing rests (test_live_answers_are_announced_when_the_drawing_rests).
    page.clock.run_for(ANNOUNCE_MS)
    assert "confidence" in page.inner_text("#verdict-text")
    assert len(sent) == 1


def test_undo_and_clear(page):
    page.uncheck("#live")
    assert dark_pixels(page) == 0
    assert page.is_disabled("#undo")
    draw(page, [[(0.2, 0.2), (0.8, 0.2)]])
    one = dark_pixels(page)
    draw(page, [[(0.5, 0.3), (0.5, 0.9)]])
    assert dark_pixels(page) > one
    page.click("#undo")
    assert dark_pixels(page) == one
    page.keyboard.press("Control+z")
    assert dark_pixels(page) == 0
    assert page.is_disabled("#undo")
    draw(page, [[(0.2, 0.5), (0.8, 0.5)]])
    drawn = dark_pixels(page)
    page.click("#clear")
    assert dark_pixels(page) == 0
    assert page.get_attribute("#result", "data-phase") == "empty"
    assert page.is_disabled("#clear")
    page.click("#undo")  # clearing is undoable
    assert dark_pixels(page) == drawn
    page.keyboard.press("Escape")
    assert dark_pixels(page) == 0


def test_undoing_back_to_a_dash_clears_the_older_answer(still_page):
    """Live, a dash waits quietly for the next stroke; the answer for the whole digit it
    was part of must not stay as if it were this drawing's."""
    page = still_page
    sent = _predict_requests(page)
    _a_dash_then_a_five_live(page, sent)
    assert _wait_phase(page, "shown", "error") == "shown"
    answer = page.inner_text("#digit")
    page.click("#undo")  # back to the bar alone
    assert page.inner_text("#digit") == answer  # greyed, until the live delay is up
    page.clock.run_for(LIVE_DELAY_MS)
    assert page.inner_text("#digit") == "?"
    assert page.inner_text("#verdict-text") == "No digit yet: keep drawing."
    assert page.is_hidden("#message")
    assert (_phase(page), len(sent)) == ("pending", 1)


def _stale(page) -> bool:
    return page.evaluate("document.body.classList.contains('stale')")


def _ask(page, live: bool) -> None:
    """A request for the drawing: live, once the live delay is up; else Recognise pressed."""
    with page.expect_request("**/predict"):
        if live:
            page.clock.run_for(LIVE_DELAY_MS)
        else:
            page.click("#predict")


def _away_and_back(page, away: str, live: bool) -> None:
    """From the drawing answered to another one (its answer greyed, cleared away or replaced
    by a problem), then back to the very drawing answered with Undo."""
    if away == "clear":
        page.click("#clear")
    elif away == "sample":
        page.click("#sample")
    else:
        draw(page, [[(0.3, 0.5), (0.7, 0.5)]])
    if away == "two-strokes":
        draw(page, [[(0.3, 0.3), (0.7, 0.3)]])
        page.click("#undo")  # one of them still on: not the drawing answered
    if away == "error":
        _ask(page, live)
        assert _wait_phase(page, "error") == "error"
    else:
        assert (_phase(page), _stale(page)) == (("empty", False) if away == "clear"
                                                else ("pending", True))
    page.click("#undo")


@pytest.mark.parametrize("away", ["stroke", "two-strokes", "clear", "sample", "error"])
@pytest.mark.parametrize("live", [False, True], ids=["live-off", "live"])
def test_undoing_back_to_the_drawing_answered_shows_its_answer_as_current(still_page, live,
                                                                          away):
    """The answer greyed after a change is this drawing's again once Undo brings the drawing
    answered back, whatever happened in between: shown as current, with no new request."""
    page = still_page
    answers = [_answer(7)]  # then 503s: an answer asked for again would be an error

    def route(r):
        if answers:
            r.fulfill(json=answers.pop())
        else:
            r.fulfill(status=503, json={"detail": MODEL_UNAVAILABLE})

    page.route("**/predict", route)
    sent = _predict_requests(page)
    page.set_checked("#live", live)
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    _ask(page, live)
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    _away_and_back(page, away, live)
    assert (_phase(page), _stale(page)) == ("shown", False), "the answer is not current"
    page.clock.run_for(LONG_AFTER_MS)  # past the live delay and the announcement's
    assert (_phase(page), _stale(page)) == ("shown", False), page.inner_text("#message")
    assert len(sent) == (2 if away == "error" else 1), "the answer was asked for again"
    assert page.inner_text("#digit") == "7"
    assert page.inner_text("#pad-badge") == "7 · 90.0%"
    assert page.get_attribute("#pad-badge", "data-kind") == "answer"
    assert page.is_hidden("#message")
    assert page.inner_text("#verdict-text") == "The model reads a 7, with 90.0% confidence."


@pytest.mark.parametrize("live", [False, True], ids=["live-off", "live-dash"])
def test_a_new_drawing_takes_the_old_problem_away(blank_page, api_url, live):
    """A message and a badge say why the last drawing has no answer; once the drawing
    changes they are about another one. Live off, nothing is sent until asked; live, a
    dash left after Undo waits quietly: both must still take the problem away."""
    page = blank_page
    stop_clock(page)
    page.route("**/predict", lambda r: r.fulfill(
        status=503, json={"detail": MODEL_UNAVAILABLE}))
    _open(page, api_url)
    sent = _predict_requests(page)
    if live:
        _a_dash_then_a_five_live(page, sent)
    else:
        page.uncheck("#live")
        draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
        page.click("#predict")
    assert _wait_phase(page, "error") == "error"
    assert page.is_visible("#message")
    assert page.eval_on_selector("#pad-badge", "b => !b.hidden")
    if live:
        page.click("#undo")  # back to the dash alone
    else:
        draw(page, [[(0.2, 0.5), (0.8, 0.5)]])
    page.clock.run_for(LONG_AFTER_MS)  # past the live delay (live, the dash is looked at)
    # Nothing sent (a request would have made it "busy"), and the problem gone all the same.
    assert (_phase(page), len(sent)) == ("pending", 1)
    assert page.is_hidden("#message"), "the old drawing's problem is still shown"
    assert page.eval_on_selector("#pad-badge", "b => b.hidden"), "the old badge is still shown"
    if live:
        assert page.inner_text("#verdict-text") == "No digit yet: keep drawing."
    else:  # asked for: sent, and the problem is back
        with page.expect_request("**/predict"):
            page.click("#predict")
        assert _wait_phase(page, "error") == "error"
        assert page.is_visible("#message")


def test_turning_live_off_right_after_a_stroke_sends_nothing(still_page):
    page = still_page
    sent = _predict_requests(page)
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    page.clock.run_for(LIVE_DELAY_MS - 1)
    page.uncheck("#live")  # within the quarter second the page waits after a stroke
    page.clock.run_for(LONG_AFTER_MS)
    # The request would have been due long ago: it would have made the result "busy".
    assert (_phase(page), sent) == ("pending", [])
    with page.expect_request("**/predict"):
        page.check("#live")  # back on: the unanswered drawing is sent at once
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert len(sent) == 1


def _outdated_look(page) -> tuple[bool, str, str]:
    """body.stale, the digit's outline style and the preview's opacity, as computed."""
    return page.evaluate("""() => [document.body.classList.contains('stale'),
        getComputedStyle(document.getElementById('digit')).outlineStyle,
        getComputedStyle(document.querySelector('.seen-frame')).opacity]""")


def test_there_is_no_outdated_look_without_an_answer(blank_page, api_url):
    """Greyed, the digit's box dashed, the preview dimmed: for an answer to an older drawing.
    The empty "?" and the black preview are not outdated, while drawing or waiting."""
    page = blank_page
    held = []
    page.route("**/predict", lambda r: held.append(r))
    _open(page, api_url)
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])  # the first stroke: there is no answer yet
    assert (_phase(page), _outdated_look(page)) == ("pending", [False, "none", "1"])
    page.click("#predict")
    assert _wait_phase(page, "busy") == "busy"  # the first request
    assert _outdated_look(page) == [False, "none", "1"]
    held[0].fulfill(json=_answer(7))
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])  # now there is an answer to be outdated
    assert _outdated_look(page) == [True, "dashed", "0.55"]


def test_sample_is_one_undo_step(page):
    page.uncheck("#live")
    draw(page, [[(0.2, 0.5), (0.8, 0.5)]])
    drawn = dark_pixels(page)
    page.click("#sample")  # the glyph replaces the drawing...
    assert dark_pixels(page) != drawn
    page.click("#undo")  # ...and one Undo brings the drawing back
    assert dark_pixels(page) == drawn
    page.click("#undo")
    assert dark_pixels(page) == 0
    assert page.is_disabled("#undo")


def test_the_page_works_without_find_last_index(blank_page, api_url):
    """iOS Safari before 15.4 has no Array.prototype.findLastIndex: the page must not
    need it (it broke at load)."""
    page = blank_page
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script("delete Array.prototype.findLastIndex;")
    _open(page, api_url)
    page.uncheck("#live")
    draw(page, [[(0.2, 0.5), (0.8, 0.5)]])
    drawn = dark_pixels(page)
    assert drawn > 0
    page.click("#sample")
    page.click("#undo")
    assert dark_pixels(page) == drawn
    assert errors == []


def test_focus_stays_at_the_drawing_when_clear_or_undo_disables_itself(page):
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    page.focus("#clear")
    page.keyboard.press("Enter")
    assert page.is_disabled("#clear")
    assert page.evaluate("document.activeElement.id") == "pad", "focus fell to <body>"
    page.focus("#undo")
    page.keyboard.press("Enter")  # the clear undone: Undo stays enabled, and focused
    assert page.evaluate("document.activeElement.id") == "undo"
    page.keyboard.press("Enter")  # the stroke undone: nothing left to undo
    assert page.is_disabled("#undo")
    assert page.evaluate("document.activeElement.id") == "pad", "focus fell to <body>"


def test_enter_after_drawing_recognises_not_the_last_clicked_button(page):
    """Drawing takes the focus: Enter then recognises the drawing; it does not press the
    button clicked before again (Undo would undo the new stroke, Sample replace it)."""
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    for button in ("#undo", "#sample"):
        draw(page, [[(0.2, 0.5), (0.8, 0.5)]])
        page.click(button)  # the button has the focus...
        draw(page, [[(0.3, 0.3), (0.7, 0.7)]])  # ...until the pen is down
        assert page.evaluate("document.activeElement.id") == "pad", f"focus stayed on {button}"
        drawn = dark_pixels(page)
        with page.expect_request("**/predict"):
            page.keyboard.press("Enter")
        assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
        assert dark_pixels(page) == drawn, f"Enter pressed {button} again"


def test_the_pen_takes_the_focus_without_a_focus_ring_the_keyboard_gets_one(page):
    """A ring around the pad on every stroke is noise; reached with Tab, it shows."""
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    assert page.evaluate("document.activeElement.id") == "pad"
    assert not page.evaluate("document.getElementById('pad').matches(':focus-visible')")
    page.focus("#predict")  # the control after it
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "pad"
    assert page.evaluate("document.getElementById('pad').matches(':focus-visible')")


def test_ink_lands_under_the_pointer_near_the_edges(page):
    """The drawing fills the canvas's content box: its 2 px CSS border is no part of it."""
    page.uncheck("#live")
    for fx, fy in [(0.06, 0.06), (0.94, 0.94), (0.06, 0.94)]:
        left, top, width, height = page.eval_on_selector(
            "#pad", """c => { const r = c.getBoundingClientRect();
                              return [r.left + c.clientLeft, r.top + c.clientTop,
                                      c.clientWidth, c.clientHeight]; }""")
        x, y = round(left + fx * width), round(top + fy * height)  # whole CSS pixels
        page.mouse.click(x, y)  # a dot, centred where the pointer is
        centre = ink_centre(page)
        expected = ((x - left) / width * 280, (y - top) / height * 280)
        assert centre == pytest.approx(expected, abs=0.4)  # the border put it 1.1 off
        page.keyboard.press("Control+z")
        assert dark_pixels(page) == 0


_BACKING = "c => [c.width, c.height, c.clientWidth, devicePixelRatio]"


def _backing_store_fits(page) -> None:
    """The canvas's pixels are the screen's: its CSS width times devicePixelRatio (at least
    280, the drawing's own size, at most 1120), square."""
    page.wait_for_function(
        """() => { const c = document.getElementById('pad');
                   const want = Math.min(1120,
                       Math.max(280, Math.ceil(c.clientWidth * devicePixelRatio)));
                   return c.width === want && c.height === want; }""", timeout=WAIT_MS)


def test_backing_store_follows_a_pixel_ratio_change_without_a_resize(page):
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    width, _, css, _ = page.eval_on_selector("#pad", _BACKING)
    assert width == math.ceil(css)
    before = ink_centre(page)
    cdp = page.context.new_cdp_session(page)  # as a window moved to a 2x screen: same size
    cdp.send("Emulation.setDeviceMetricsOverride",
             {**DESKTOP, "deviceScaleFactor": 2, "mobile": False})
    # Headless Chromium tells media-query listeners of emulated changes only when media
    # queries are re-evaluated for another reason, as a real zoom or screen change does.
    cdp.send("Emulation.setEmulatedMedia", {"media": "screen"})
    page.wait_for_function("w => document.getElementById('pad').width === w",
                           arg=math.ceil(css * 2), timeout=WAIT_MS)
    assert ink_centre(page) == pytest.approx(before, abs=0.5), "the drawing was not redrawn"
    cdp.detach()


@pytest.mark.parametrize("scale", [1, 1.5, 2])
def test_backing_store_follows_the_displayed_size(browser, api_url, scale):
    """Not 280 times a rounded pixel ratio, stretched 1.56 times on a desktop: the
    canvas's displayed size in device pixels, also after a resize, with the drawing kept."""
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=scale)
    page = context.new_page()
    _open(page, api_url)
    page.uncheck("#live")
    width, height, css, ratio = page.eval_on_selector("#pad", _BACKING)
    assert (ratio, width, height) == (scale, math.ceil(css * scale), math.ceil(css * scale))
    draw(page, [[(0.3, 0.2), (0.6, 0.8)]])
    before = ink_centre(page)
    page.set_viewport_size(PHONE)
    page.wait_for_function("w => document.getElementById('pad').clientWidth < w", arg=css,
                           timeout=WAIT_MS)
    _backing_store_fits(page)
    assert ink_centre(page) == pytest.approx(before, abs=0.5), "the drawing was not redrawn"
    context.close()


_TAP = [[(0.5, 0.5)]]
_DASH = [[(0.45, 0.5), (0.55, 0.5)]]  # 28 canvas units: with the brush, under 2.5 brushes
# One zig-zag stroke over every row, so live recognition cannot start half-way through.
_SCRIBBLE = [[(x, y) for y in np.arange(0.02, 1, 0.08) for x in (0.02, 0.98)]]
# Its top three quarters: over MAX_INK_SHARE (0.6) of the canvas, short of all of it.
_THREE_QUARTERS = [[(x, y) for y in np.arange(0.02, 0.7, 0.08) for x in (0.02, 0.98)]]
_DOT_MESSAGE = "That's a dot or a dash: draw a whole digit, from 0 to 9."


@pytest.mark.parametrize(
    ("strokes", "brush", "shown"),
    [
        (_TAP, 20, _DOT_MESSAGE),
        (_DASH, 20, _DOT_MESSAGE),
        (_SCRIBBLE, 40, "That covers most of the canvas: clear it and draw one digit."),
        (_THREE_QUARTERS, 40, "That covers most of the canvas: clear it and draw one digit."),
    ],
    ids=["tap", "dash", "scribble", "three-quarters"],
)
def test_dots_dashes_and_inked_over_canvases_are_not_sent(still_page, strokes, brush, shown):
    """The model would name a digit, surely (a tap: "0, 96%"; ink everywhere: "1, 99.5%").
    Live, a dot or a dash may be a digit's first stroke: the page waits for the next one
    and says nothing until asked (Recognise)."""
    page = still_page
    predicts = _predict_requests(page)
    _set_brush(page, brush)
    draw(page, strokes)  # live: the page checks 250 ms after the stroke
    page.clock.run_for(LONG_AFTER_MS)
    if shown == _DOT_MESSAGE:  # looked at, quietly: a request would have made it "busy"
        assert page.inner_text("#verdict-text") == "No digit yet: keep drawing."
        assert _phase(page) == "pending"
        assert page.is_hidden("#message")
        page.click("#predict")
    assert _wait_phase(page, "shown", "error") == "error"
    assert predicts == []
    assert page.inner_text("#message") == shown
    assert page.text_content("#pad-badge") == "Not a digit"
    assert page.inner_text("#digit") == "?"


def test_digits_a_corner_digit_and_ones_are_sent(page, one_of_each):
    """The page's own refusal lets every digit through, drawn with the default brush."""
    page.uncheck("#live")
    sent = []
    page.on("request", lambda r: r.url.endswith("/predict") and sent.append(r.url))
    drawings = {f"a {label}": digit_strokes(image) for image, label in one_of_each}
    image = one_of_each[0][0]
    drawings["a small digit in a corner"] = [
        [(0.03 + 0.3 * x, 0.03 + 0.3 * y) for x, y in stroke] for stroke in digit_strokes(image)
    ]
    drawings["a 1 as one stroke"] = [[(0.5, 0.2), (0.5, 0.8)]]
    drawings["a short 1"] = [[(0.5, 0.45), (0.5, 0.6)]]  # 42 units: over 2.5 brushes with caps
    for name, strokes in drawings.items():
        if page.is_enabled("#clear"):
            page.click("#clear")
        draw(page, strokes)
        page.click("#predict")
        phase = _wait_phase(page, "shown", "error")
        assert phase == "shown", f"{name}: {page.inner_text('#message')}"
    assert len(sent) == len(drawings)


def test_every_sample_glyph_is_sent(blank_page, api_url):
    page = blank_page
    page.add_init_script("Math.random = () => 0;")  # the samples run 1, 2, ..., 9, 0
    _open(page, api_url)
    page.uncheck("#live")
    for _ in range(10):
        page.click("#sample")
        with page.expect_request("**/predict"):
            page.click("#predict")
        assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")


def phone_photo(path: Path, *, sideways: bool = False) -> Path:
    """A phone's photo of a 3 in blue ink on paper in dim, uneven light (darker than the
    page's ink level, 136): 1600x1200, blurred, JPEG. `sideways`: stored turned a quarter
    left, with the EXIF Orientation (6) that turns it upright, as phone cameras write."""
    from PIL import Image, ImageDraw, ImageFilter

    x, y = np.linspace(0, 1, 1600)[None, :], np.linspace(0, 1, 1200)[:, None]
    paper = 160 - 45 * x - 25 * y
    image = Image.fromarray(np.dstack([paper, paper, paper * 0.97]).astype(np.uint8))
    loop = [(700 + 250 * math.cos(t), 420 + 150 * math.sin(t)) for t in np.linspace(-2.6, 1.4, 20)]
    loop += [(700 + 280 * math.cos(t), 770 + 190 * math.sin(t)) for t in np.linspace(-1.4, 2.6, 20)]
    ImageDraw.Draw(image).line(loop, fill=(20, 30, 90), width=38, joint="curve")
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    if sideways:
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
        image.transpose(Image.Transpose.ROTATE_90).save(path, quality=90, exif=exif)
    else:
        image.save(path, quality=90)
    return path


@pytest.mark.parametrize("sideways", [False, True], ids=["upright", "EXIF-rotated"])
def test_a_photo_of_a_digit_on_paper_is_read_and_is_one_undo_step(page, tmp_path, sideways):
    """Photo... opens a picture (a phone's camera on a phone): upright as its EXIF says, and
    sent at once, though its paper covers the canvas (the page's ink checks are for drawings)."""
    with page.expect_request("**/predict"):
        page.set_input_files("#photo-file", phone_photo(tmp_path / "three.jpg", sideways=sideways))
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.text_content("#digit") == "3"
    assert dark_pixels(page) > 0
    page.click("#undo")
    assert page.is_disabled("#undo")
    assert page.get_attribute("#result", "data-phase") == "empty"


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_a_photo_dropped_on_the_canvas_or_pasted_is_read(page, tmp_path, how):
    data = list(phone_photo(tmp_path / "three.jpg").read_bytes())
    with page.expect_request("**/predict"):
        page.evaluate("""([how, data]) => {
            const files = new DataTransfer();
            files.items.add(new File([new Uint8Array(data)], "three.jpg", {type: "image/jpeg"}));
            if (how === "drop") {
                document.querySelector("#pad").dispatchEvent(
                    new DragEvent("drop", {dataTransfer: files, bubbles: true, cancelable: true}));
            } else {
                document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: files}));
            }
        }""", [how, data])
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.text_content("#digit") == "3"


def test_a_photo_refused_as_no_digit_is_explained_as_a_photo(page, tmp_path):
    """Not "clear it and draw one digit": take it again, or crop it."""
    no_digit = _problem("ink in no digit's shape", "no_digit")
    page.route("**/predict", lambda r: r.fulfill(status=422, json={"detail": [no_digit]}))
    page.set_input_files("#photo-file", phone_photo(tmp_path / "three.jpg"))
    assert _wait_phase(page, "error") == "error"
    assert "no digit in this photo" in page.inner_text("#message")
    assert page.text_content("#pad-badge") == "Not a digit"


def test_a_file_that_is_no_picture_is_explained_not_sent(page, tmp_path):
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/predict") else None)
    (tmp_path / "notes.png").write_bytes(b"not a picture at all")
    page.set_input_files("#photo-file", tmp_path / "notes.png")
    assert _wait_phase(page, "error") == "error"
    assert page.inner_text("#message").startswith("This browser cannot open that file as a picture")
    assert sent == []


def test_an_empty_canvas_is_explained_not_sent(page):
    """Enter on an empty canvas sent a blank image for the API's 422: the page says the same
    itself."""
    sent = _predict_requests(page)
    page.focus("#pad")
    page.keyboard.press("Enter")
    assert _wait_phase(page, "error") == "error"
    assert sent == []
    assert page.is_visible("#message")
    assert page.inner_text("#message") == (
        "Nothing to recognise: the canvas is empty. Draw a digit from 0 to 9."
    )
    assert page.text_content("#pad-badge") == "Empty canvas"


def test_unreachable_api_is_reported_and_the_page_stays_usable(blank_page, api_url):
    page = blank_page
    dead = f"http://127.0.0.1:{free_port()}"
    page.route("**/config.json", lambda r: r.fulfill(json={"apiUrl": dead}))
    _open(page, api_url)
    _wait_api_state(page, "down")
    _predict_a_bar_expecting_error(page)
    assert "Unreachable" in page.inner_text("#message")
    assert page.is_hidden("#busy")
    # Still usable: undo, draw again, ask again.
    page.click("#undo")
    assert page.is_disabled("#undo")
    assert page.is_hidden("#message")
    draw(page, [[(0.3, 0.3), (0.7, 0.7)]])
    assert page.is_enabled("#undo")
    page.keyboard.press("Enter")
    assert _wait_phase(page, "error") == "error"


def test_slow_api_times_out_with_a_message(blank_page, api_url):
    page = blank_page
    stop_clock(page)
    page.route("**/predict", lambda route: None)  # never answers
    _open(page, api_url)
    _wait_api_state(page)  # /health answered: only /predict is waiting when the clock runs
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    with page.expect_request("**/predict"):
        page.click("#predict")
    page.clock.run_for(TIMEOUT_MS - 1)
    assert _phase(page) == "busy", page.inner_text("#message")
    page.clock.run_for(1)
    assert _wait_phase(page, "error") == "error"
    assert page.inner_text("#message") == "Slow: no answer within 8 s. Try again in a moment."
    assert page.is_enabled("#predict")


def test_a_newer_stroke_cancels_the_stale_request(blank_page, api_url):
    page = blank_page
    held = []  # the first /predict is held unanswered; later ones reach the server

    def route(r):
        if held:
            r.continue_()
        else:
            held.append(r)

    page.route("**/predict", route)
    _open(page, api_url)
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    assert _wait_phase(page, "busy") == "busy"  # live request sent, answer held back
    with page.expect_event("requestfailed") as failed:
        draw(page, [[(0.35, 0.2), (0.5, 0.15)]])  # a newer drawing
    assert failed.value.url.endswith("/predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.is_hidden("#message")


_RECORD_PHASES = """() => {
  const result = document.getElementById("result");
  window.phases = [result.dataset.phase];
  new MutationObserver((records) => records.forEach(() => phases.push(result.dataset.phase)))
    .observe(result, { attributes: true, attributeFilter: ["data-phase"] });
  const message = document.getElementById("message");
  window.messages = [];
  new MutationObserver(() => message.hidden || messages.push(message.textContent))
    .observe(message, { attributes: true, childList: true, subtree: true });
}"""


@pytest.fixture
def stalling_api() -> Iterator:
    with stalling_server(free_port()) as server:
        yield server


def _stall_first_predict(page, stalling_api) -> None:
    """The first /predict goes to a server that sends headers and half the body, then stalls."""
    stall_url = f"http://127.0.0.1:{stalling_api.server_address[1]}/predict"
    routed = []

    def route(r):
        routed.append(r.request.url)
        if len(routed) == 1:
            r.continue_(url=stall_url)
        else:
            r.continue_()

    page.route("**/predict", route)


def test_a_newer_stroke_during_a_cut_off_answer_is_no_error(blank_page, api_url, stalling_api):
    page = blank_page
    _stall_first_predict(page, stalling_api)
    _open(page, api_url)
    page.evaluate(_RECORD_PHASES)
    answers = []
    page.on("response", lambda r: r.url.endswith("/predict") and answers.append(r))
    with page.expect_response("**/predict"):  # headers in, the body still coming
        draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    assert stalling_api.stalled.wait(5)
    assert page.get_attribute("#result", "data-phase") == "busy"
    draw(page, [[(0.35, 0.2), (0.5, 0.15)]])  # a newer drawing cancels the body's read
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert len(answers) == 2
    assert page.inner_text("#digit") == str(answers[1].json()["digit"]), "not the newer answer"
    phases, messages = page.evaluate("[phases, messages]")
    assert "error" not in phases, f"a cancelled request was shown as an error: {messages}"
    assert messages == []
    assert page.is_hidden("#message")


def test_a_timeout_while_the_body_is_read_is_slow_not_a_bad_answer(blank_page, api_url,
                                                                    stalling_api):
    page = blank_page
    stop_clock(page)
    page.route("**/config.json", lambda r: r.fulfill(json={"timeoutMs": 700}))
    _stall_first_predict(page, stalling_api)
    _open(page, api_url)
    _wait_api_state(page)  # /health answered: only /predict is waiting when the clock runs
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    with page.expect_response("**/predict"):  # headers in, the body still coming
        page.click("#predict")
    assert stalling_api.stalled.wait(5)
    page.clock.run_for(699)  # config.json's timeoutMs, not the default 8 s
    assert _phase(page) == "busy", page.inner_text("#message")
    page.clock.run_for(1)
    assert _wait_phase(page, "error") == "error"
    assert page.inner_text("#message") == "Slow: no answer within 1 s. Try again in a moment."
    assert page.get_attribute("#api-status", "data-state") == "slow"


def test_a_stroke_while_the_config_loads_cancels_the_waiting_request(blank_page, api_url):
    page = blank_page
    stop_clock(page)
    held = []
    page.route("**/config.json", lambda r: held.append(r))  # a slow config.json
    predicts = _predict_requests(page)
    page.goto(api_url + "/")
    while not held:
        page.wait_for_timeout(20)
    page.click("#sample")  # a live request, waiting for the config
    page.clock.run_for(LIVE_DELAY_MS)
    assert _phase(page) == "busy"
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()  # a newer stroke starts, and is still being drawn
    page.mouse.move(box["x"] + 80, box["y"] + 60, steps=4)
    assert page.get_attribute("#result", "data-phase") == "drawing"
    held[0].fulfill(json={})
    # The waiting request goes on (or not) as soon as the config is in, in the same task
    # as the header's /health request: once that is answered, it is too late to be sent.
    _wait_api_state(page)
    page.clock.run_for(LONG_AFTER_MS)  # and no timer brings it back
    assert predicts == [], "the cancelled request was sent all the same"
    assert _phase(page) == "drawing"
    assert page.inner_text("#digit") == "?", "a stale answer was shown while drawing"
    page.mouse.up()
    with page.expect_request("**/predict"):
        page.clock.run_for(LIVE_DELAY_MS)
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert len(predicts) == 1  # sent after the cancelled one would have been: it was not


def _problem(msg: str, kind: str, loc: tuple = ("body", "image")) -> dict:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _answer(digit: int, p: float = 0.9, runner_up: tuple[int, float] | None = None) -> dict:
    """A well-formed /predict answer: p for the digit, then q for the runner-up (other, q)
    if one is given, the rest shared evenly."""
    other, q = runner_up or (digit, 0.0)
    probabilities = [(1 - p - q) / (9 if q == 0 else 8)] * 10
    probabilities[other] = q
    probabilities[digit] = p
    return {"digit": digit, "confidence": p, "probabilities": probabilities,
            "model": {"name": "stub", "version": "1"}, "input": [0] * 784}


_TOO_LARGE = "Drawing too large: it is too big to send. Clear the canvas and draw again."
_UNREADABLE = ("Unreadable answer: the API answered, but not with a prediction. "
               "Try again in a moment.")
_UNAVAILABLE = "Service unavailable: the API cannot answer right now. Try again in a moment."


@pytest.mark.parametrize(
    ("status", "body", "shown", "api_status"),
    [  # the API's 5xx have a string `detail`, its 4xx a list; API Gateway's own a `message`
        (503, {"detail": MODEL_UNAVAILABLE},
         "Model not loaded: the API cannot recognise digits right now. Try again later.",
         "Model not loaded"),
        # API Gateway's own 503 (its message, or a plain-text body) is not about the model.
        (503, {"message": "Service Unavailable"}, _UNAVAILABLE, "API unavailable"),
        (503, "Service Unavailable", _UNAVAILABLE, "API unavailable"),
        (500, {"detail": "Internal server error", "request_id": "r-1"},
         "Server error: the API failed (500). Try again in a moment.", "API error"),
        (502, {"detail": []}, "Server error: the API failed (502). Try again in a moment.",
         "API error"),
        (413, {"detail": [_problem("image is larger than 1000000 bytes", "image_too_large")]},
         _TOO_LARGE, "API ready"),
        (413, {"detail": [_problem("request body is larger than 6291456 bytes", "body_too_large",
                                   ("body",))]},
         _TOO_LARGE, "API ready"),
        (429, {"message": "Too Many Requests"},
         "Too many requests: the API is busy. Wait a few seconds and try again.", "API busy"),
        (422, {"detail": [_problem("ink covers 97% of the image, its edge too: there is no "
                                   "background to tell a digit from", "no_digit")]},
         "Not a digit: the model finds no digit in this drawing. Clear it and draw one digit, "
         "big and centred.", "API ready"),
        (422, {"detail": [_problem(f"the image cannot be decoded ({i})", "image_decode")
                          for i in range(21)]},
         "The API refused the drawing: the image cannot be decoded (0).", "API ready"),
        (200, "<html>not JSON</html>", _UNREADABLE, "API error"),
        (200, {"digit": 7}, _UNREADABLE, "API error"),
        (200, {**_answer(7), "digit": 10}, _UNREADABLE, "API error"),
        (200, {**_answer(7), "probabilities": [0.1] * 9 + [None]}, _UNREADABLE, "API error"),
    ],
    ids=["503", "503-gateway", "503-gateway-text", "500", "502", "413-image", "413-body", "429",
         "422-no-digit", "422-21-problems", "200-not-json", "200-no-probabilities",
         "200-digit-10", "200-null-probability"],
)
def test_api_errors_are_explained(blank_page, api_url, status, body, shown, api_status):
    """In plain words: the first problem only, never the field's name; the header follows."""
    page = blank_page
    _open(page, api_url)
    _wait_api_state(page)  # the health check is in: only /predict changes the status now
    kind = {"json": body} if isinstance(body, dict) else {"body": body}
    page.route("**/predict", lambda r: r.fulfill(status=status, **kind))
    page.click("#sample")
    page.click("#predict")
    assert _wait_phase(page, "error") == "error"
    assert page.inner_text("#message") == shown
    assert page.inner_text("#api-status") == api_status
    result = page.inner_text("#result")
    assert "undefined" not in result
    assert "NaN" not in result


@pytest.mark.parametrize(
    ("status", "body", "api_status"),
    [  # as for the same answer to /predict (test_api_errors_are_explained)
        (429, {"message": "Too Many Requests"}, "API busy"),
        (503, {"ok": False, "reason": "weights file missing"}, "Model not loaded"),
        (503, {"message": "Service Unavailable"}, "API unavailable"),
        (503, "Service Unavailable", "API unavailable"),
        (500, {"detail": "Internal server error"}, "API error"),
    ],
    ids=["429", "503-model", "503-gateway", "503-gateway-text", "500"],
)
def test_the_health_check_reads_problems_as_predict_does(blank_page, api_url, status, body,
                                                          api_status):
    page = blank_page
    kind = {"json": body} if isinstance(body, dict) else {"body": body}
    page.route("**/health", lambda r: r.fulfill(status=status, **kind))
    _open(page, api_url)
    page.wait_for_function(
        "() => document.getElementById('api-status').dataset.state !== 'checking'",
        timeout=WAIT_MS)
    assert page.inner_text("#api-status") == api_status


def test_the_api_is_checked_again_when_the_connection_is_back(blank_page, api_url):
    page = blank_page
    page.route("**/health", lambda r: r.abort("internetdisconnected"))
    _open(page, api_url)
    _wait_api_state(page, "down")
    assert page.inner_text("#api-status") == "API unreachable"
    page.unroute("**/health")
    page.context.set_offline(True)
    page.context.set_offline(False)  # the window's `online` event
    _wait_api_state(page, "ready")


@pytest.mark.parametrize("live", [False, True], ids=["live-off", "live"])
def test_the_unreachable_message_goes_when_the_connection_is_back(blank_page, api_url, live):
    """Offline, the drawing is unreachable; online again, the header's check succeeds: the
    message and badge go (they would say what is no longer so) and, live, the drawing is sent
    again, once. Live off, nothing is sent until asked."""
    page = blank_page
    _open(page, api_url)
    _wait_api_state(page)
    sent = _predict_requests(page)
    page.set_checked("#live", live)
    page.context.set_offline(True)
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    if not live:
        page.click("#predict")
    assert _wait_phase(page, "error") == "error"
    assert page.inner_text("#message").startswith("Unreachable:")
    assert page.text_content("#pad-badge") == "No connection"
    page.context.set_offline(False)  # the window's `online` event: /health is read again
    if live:
        assert _wait_phase(page, "shown") == "shown"
        assert page.get_attribute("#pad-badge", "data-kind") == "answer"
    else:
        _wait_api_state(page, "ready")
        page.wait_for_function("document.getElementById('message').hidden", timeout=WAIT_MS)
        assert _phase(page) == "pending"
        assert page.eval_on_selector("#pad-badge", "b => b.hidden")
    assert page.is_hidden("#message")
    assert len(sent) == (2 if live else 1)


def test_an_8_is_read_as_an_8(blank_page, api_url):
    page = blank_page
    page.route("**/predict", lambda r: r.fulfill(json=_answer(8)))
    _open(page, api_url)
    page.uncheck("#live")
    page.click("#sample")
    page.click("#predict")  # asked for: announced at once
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.inner_text("#verdict-text") == "The model reads an 8, with 90.0% confidence."


# Under even odds: the API's confidence is calibrated, so the 8 is right about a third of
# the time; the page says it is unsure and names the runner-up, the 3.
_UNSURE_8 = _answer(8, 0.34, runner_up=(3, 0.30))
_UNSURE_8_SHOWN = ("8? · 34.0%", "Unsure: maybe 8 (34.0%) or 3 (30.0%)",
                   "The model is unsure: maybe an 8, with 34.0% confidence, or a 3, with 30.0%.")
_SURE_7_SHOWN = ("7 · 97.0%", None, "The model reads a 7, with 97.0% confidence.")


def _doubt_shown(page) -> tuple[str, str | None, str]:
    """The badge over the canvas, the result card's unsure note (None when hidden) and
    what a screen reader hears."""
    note = page.eval_on_selector("#unsure-note", "e => e.hidden ? null : e.textContent")
    return page.text_content("#pad-badge"), note, page.text_content("#verdict-text")


def _digit_colours(page) -> list[str]:
    return page.eval_on_selector(
        "#digit", "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (_UNSURE_8, _UNSURE_8_SHOWN),
        (_answer(7, 0.97), _SURE_7_SHOWN),
        (_answer(4, 0.85, runner_up=(9, 0.1)),
         ("4? · 85.0%", "Unsure: maybe 4 (85.0%) or 9 (10.0%)",
          "The model is unsure: maybe a 4, with 85.0% confidence, or a 9, with 10.0%.")),
        (_answer(1, 0.9, runner_up=(7, 0.05)),  # at the threshold: not under it
         ("1 · 90.0%", None, "The model reads a 1, with 90.0% confidence.")),
    ],
    ids=["unsure", "sure", "unsure-85", "at-90"],
)
def test_an_answer_under_90_percent_is_shown_as_unsure(blank_page, api_url, answer, shown):
    """Under 90% (result.js says why: most wrong answers, few right ones): the badge asks,
    the card's note and the announcement name the runner-up. A sure answer looks as it
    always did."""
    page = blank_page
    page.route("**/predict", lambda r: r.fulfill(json=answer))
    _open(page, api_url)
    page.uncheck("#live")
    page.click("#sample")
    page.click("#predict")  # asked for: announced at once
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert _doubt_shown(page) == shown


def test_an_unsure_answer_stays_unsure_greyed_and_after_undo_until_a_sure_one(still_page):
    """Unsure belongs to the answer: greyed after a stroke it still says so, an Undo back to
    its drawing shows it unsure again (unasked), and the next answer, sure, clears it all,
    the digit's colours too."""
    page = still_page
    answers = [_answer(7, 0.97), _UNSURE_8]
    page.route("**/predict", lambda r: r.fulfill(json=answers.pop()))
    sent = _predict_requests(page)
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    page.click("#predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert _doubt_shown(page) == _UNSURE_8_SHOWN
    unsure_colours = _digit_colours(page)

    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])  # live is off: the answer stays, greyed
    assert (_phase(page), _stale(page)) == ("pending", True)
    assert _doubt_shown(page) == (*_UNSURE_8_SHOWN[:2], "Outdated: the model was unsure: maybe "
                                  "an 8, with 34.0% confidence, or a 3, with 30.0%; the drawing "
                                  "has changed since.")
    page.click("#undo")
    assert (_phase(page), _stale(page), len(sent)) == ("shown", False, 1)
    assert _doubt_shown(page) == _UNSURE_8_SHOWN
    assert _digit_colours(page) == unsure_colours

    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])
    page.click("#predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert len(sent) == 2
    assert _doubt_shown(page) == _SURE_7_SHOWN
    assert _digit_colours(page) != unsure_colours, "the digit still looks unsure"


_RECORD_ANNOUNCEMENTS = """() => {
  const text = document.getElementById("verdict-text");
  window.announced = [];
  new MutationObserver(() => announced.push(text.textContent))
    .observe(text, { childList: true, characterData: true, subtree: true });
}"""


def test_a_problem_is_announced_once(page):
    """The message is an alert; the polite status region does not say it again."""
    page.evaluate(_RECORD_ANNOUNCEMENTS)
    page.click("#predict")  # an empty canvas: said so, as the API would
    assert _wait_phase(page, "error") == "error"
    assert page.get_attribute("#message", "role") == "alert"
    assert page.evaluate("announced.filter(t => t.trim())") == []


_RECORD_ALERTS = """() => {
  const box = document.getElementById("message");
  window.alerts = [];  // each time the alert is shown, or rebuilt while shown: said again
  new MutationObserver(() => box.hidden || alerts.push(box.textContent))
    .observe(box, { attributes: true, attributeFilter: ["hidden"], childList: true,
                    subtree: true });
}"""
_SERVER_ERROR = "Server error: the API failed (500). Try again in a moment."


def test_the_same_api_problem_is_not_announced_again_after_each_stroke(still_page):
    """Live, each stroke is sent, and an API that is down answers each with the same problem:
    its alert says it once (it stays shown while the next stroke is sent); a new problem is
    said."""
    page = still_page
    statuses = [500, 500, 429]
    page.route("**/predict", lambda r: r.fulfill(status=statuses.pop(0),
                                                 json={"detail": "Internal server error"}))
    page.evaluate(_RECORD_ALERTS)
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    _ask(page, live=True)
    assert _wait_phase(page, "error") == "error"
    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])
    _ask(page, live=True)
    assert _wait_phase(page, "error") == "error"
    page.clock.run_for(LONG_AFTER_MS)
    assert page.evaluate("alerts") == [_SERVER_ERROR]
    draw(page, [[(0.3, 0.3), (0.7, 0.3)]])
    _ask(page, live=True)
    page.wait_for_function("alerts.length === 2", timeout=WAIT_MS)
    assert page.evaluate("alerts") == [_SERVER_ERROR, "Too many requests: the API is busy. "
                                       "Wait a few seconds and try again."]


def test_the_brush_size_is_read_as_the_sliders_value_only(page):
    """An <output> is a live region: every step of the slider was read twice."""
    _set_brush(page, 13)
    assert page.get_attribute("#brush-size", "aria-valuetext") == "13 px"
    assert page.inner_text("#brush-value") == "13 px"
    assert page.eval_on_selector(
        "#brush-value", "e => e.closest('output, [aria-live], [role=status], [role=alert]')"
    ) is None


_ANNOUNCED = "announced.filter(t => t.startsWith('The model '))"  # reads, or is unsure


def test_live_answers_are_announced_when_the_drawing_rests(still_page):
    """Live, every stroke brings an answer; only the one for the drawing left alone (a second
    from the pen's lift) is announced, not the answers for its first strokes, nor that they
    were outdated."""
    page = still_page
    page.evaluate(_RECORD_ANNOUNCEMENTS)
    answers = []
    page.on("response", lambda r: r.url.endswith("/predict") and answers.append(r))
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    with page.expect_response("**/predict"):
        page.clock.run_for(LIVE_DELAY_MS)
    assert _wait_phase(page, "shown", "error") == "shown"
    page.clock.run_for(ANNOUNCE_MS - LIVE_DELAY_MS - 1)
    assert page.evaluate(_ANNOUNCED) == [], "announced before the drawing rested a second"
    draw(page, [[(0.3, 0.15), (0.7, 0.15)]])  # just in time: the first answer was no digit's
    with page.expect_response("**/predict"):
        page.clock.run_for(LIVE_DELAY_MS)
    assert _wait_phase(page, "shown", "error") == "shown"
    page.clock.run_for(ANNOUNCE_MS - LIVE_DELAY_MS - 1)
    assert page.evaluate(_ANNOUNCED) == [], "the first answer was announced after all"
    page.clock.run_for(1)
    said = page.evaluate(_ANNOUNCED)
    assert said == [page.inner_text("#verdict-text")], said
    assert page.evaluate("announced.filter(t => t.startsWith('Outdated'))") == []
    assert f" {answers[-1].json()['digit']}," in said[0]
    page.clock.run_for(10 * ANNOUNCE_MS)
    assert page.evaluate(_ANNOUNCED) == said


_SEVEN_SAID = "The model reads a 7, with 90.0% confidence."


def test_the_sentence_follows_clear_and_undo_at_once(still_page):
    """Esc, then Ctrl+Z: the card shows the answer again at once, and so does the sentence
    (it said "Canvas cleared." for another second)."""
    page = still_page
    page.route("**/predict", lambda r: r.fulfill(json=_answer(7)))
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    _ask(page, live=True)
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    page.clock.run_for(ANNOUNCE_MS)
    assert page.text_content("#verdict-text") == _SEVEN_SAID
    page.keyboard.press("Escape")
    assert page.text_content("#verdict-text") == "Canvas cleared."
    page.keyboard.press("Control+z")
    assert page.inner_text("#digit") == "7"
    assert page.text_content("#verdict-text") == _SEVEN_SAID


def test_the_sentence_says_when_the_answer_is_outdated(still_page):
    """Greyed after a stroke, the answer is said to be outdated; an Undo back makes it current.
    The live region holds the sentence only: the digit and confidence drawn beside it (hidden
    from a screen reader) made it read again at each change."""
    page = still_page
    page.route("**/predict", lambda r: r.fulfill(json=_answer(7)))
    assert page.eval_on_selector("#verdict-text", "e => e.closest('[aria-live]') === e")
    assert page.eval_on_selector(
        ".verdict-visual", "e => e.closest('[aria-live], [role=status], [role=alert]')") is None
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    page.click("#predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.text_content("#verdict-text") == _SEVEN_SAID
    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])
    assert _stale(page)
    assert page.text_content("#verdict-text") == (
        "Outdated: the model read a 7, with 90.0% confidence; the drawing has changed since.")
    page.click("#undo")
    assert page.text_content("#verdict-text") == _SEVEN_SAID


def test_a_slow_live_answer_is_said_at_once_when_the_drawing_has_rested(still_page):
    """The announcement waits for the drawing to rest a second, not for a second after the
    answer: an answer 3 s late comes to a drawing long at rest, and is said with it."""
    page = still_page
    held = []
    page.route("**/predict", lambda r: held.append(r))
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    _ask(page, live=True)
    page.clock.run_for(3000)
    while not held:
        page.wait_for_timeout(20)
    held[0].fulfill(json=_answer(7))
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.text_content("#verdict-text") == _SEVEN_SAID


def test_live_a_dash_is_not_announced_until_the_drawing_rests(still_page):
    """A dot or a dash may be a digit's first stroke: "keep drawing" is not said mid-digit,
    only once the drawing has rested for a second."""
    page = still_page
    page.evaluate(_RECORD_ANNOUNCEMENTS)
    draw(page, [[(0.45, 0.15), (0.55, 0.15)]])
    page.clock.run_for(ANNOUNCE_MS - 1)  # the dash is looked at after the live delay
    assert page.inner_text("#digit") == "?"
    assert page.evaluate("announced") == [], "said before the drawing rested"
    page.clock.run_for(1)
    assert page.evaluate("announced") == ["No digit yet: keep drawing."]


def test_an_error_replaces_the_answer_on_a_small_phone(browser, api_url, clear_digits):
    """On a 360x640 phone the message is below the fold: the old answer goes, and the
    badge over the canvas says why there is none."""
    context = browser.new_context(
        viewport=SMALL_PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
    )
    page = context.new_page()
    _open(page, api_url)
    assert page.locator("#pad").bounding_box()["y"] + 20 < SMALL_PHONE["height"]
    touch_draw(page, digit_strokes(clear_digits[1][0]))  # live: an answer
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    answer = page.text_content("#pad-badge")
    no_digit = _problem("ink in no digit's shape", "no_digit")
    page.route("**/predict", lambda r: r.fulfill(status=422, json={"detail": [no_digit]}))
    touch_draw(page, [[(0.1, 0.9), (0.9, 0.9)]])  # a newer drawing, refused
    assert _wait_phase(page, "error") == "error"
    badge = page.locator("#pad-badge")
    assert badge.text_content() == "Not a digit", f"still showing {answer}"
    box = badge.bounding_box()
    assert box is not None
    assert box["y"] >= 0, "the badge is above the screen"
    assert box["y"] + box["height"] <= SMALL_PHONE["height"], "the badge is below the fold"
    assert page.text_content("#verdict-text") == ""  # the alert says it: not twice
    assert page.inner_text("#digit") == "?"
    assert page.inner_text("#confidence") == "\N{EN DASH}"
    assert page.locator(".prob.top").count() == 0
    assert page.is_hidden("body.stale")
    context.close()


def test_the_badge_shows_a_request_is_running_on_a_small_phone(browser, api_url):
    """On a 360x640 phone "Thinking…" in the result card is below the fold: the badge over the
    canvas says it, in place of the older answer, and nothing is announced for it."""
    context = browser.new_context(
        viewport=SMALL_PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
    )
    page = context.new_page()
    held = []
    page.route("**/predict", lambda r: held.append(r))
    _open(page, api_url)
    page.evaluate(_RECORD_ANNOUNCEMENTS)
    badge = page.locator("#pad-badge")
    for n, stroke in enumerate([[(0.5, 0.15), (0.5, 0.85)], [(0.3, 0.5), (0.7, 0.5)]], 1):
        touch_draw(page, [stroke])  # live: sent, and its answer held back
        assert _wait_phase(page, "busy") == "busy"
        while len(held) < n:
            page.wait_for_timeout(20)
        assert badge.is_visible()
        assert (badge.text_content(), badge.get_attribute("data-kind")) == ("Thinking…", "busy")
        box = badge.bounding_box()
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= SMALL_PHONE["height"]
        held[-1].fulfill(json=_answer(7))
        assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
        assert badge.text_content() == "7 · 90.0%"
    assert badge.get_attribute("aria-hidden") == "true"
    assert not [t for t in page.evaluate("announced") if "Thinking" in t]
    context.close()


def test_phone_touch_drawing(browser, api_url, clear_digits):
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
    )
    page = context.new_page()
    _open(page, api_url)
    width = page.eval_on_selector("#pad", "c => c.getBoundingClientRect().width")
    assert width < PHONE["width"], "the canvas fits the phone's width"
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= PHONE["width"], "the page scrolls sideways on a phone"
    _backing_store_fits(page)
    image, label = clear_digits[1]
    page.uncheck("#live")
    _set_brush(page, BRUSH)
    touch_draw(page, digit_strokes(image))
    page.click("#predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.inner_text("#digit") == str(label)
    assert page.inner_text("#pad-badge").startswith(str(label)), "the answer shows by the canvas"
    ARTIFACTS.mkdir(exist_ok=True)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "site-phone.png"), full_page=True)
    context.close()


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 700},  # a laptop's window
                                      {"width": 320, "height": 640}],  # a small phone
                         ids=["laptop", "320px"])
def test_the_controls_fit_the_window(browser, api_url, viewport):
    """On a laptop the canvas shrinks so that its buttons need no scrolling; on a phone as
    narrow as 320 px nothing sticks out sideways (the brush slider once did, by 5 px)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _open(page, api_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    if viewport["width"] > 820:  # side by side: the answer is in view too
        for control in ("#predict", "#undo", "#clear", "#sample", "#photo"):
            box = page.locator(control).bounding_box()
            assert box["y"] + box["height"] <= viewport["height"], control
        assert page.locator("#pad").bounding_box()["width"] >= 280
    context.close()


@pytest.mark.parametrize("viewport", [(740, 360), (640, 360), (360, 640), (820, 600),
                                      (1366, 768)],
                         ids=lambda v: f"{v[0]}x{v[1]}")
def test_the_canvas_fits_the_window_height(browser, api_url, viewport):
    """A phone held sideways (740x360) had a 440 px canvas: scrolled to, part of it was always
    out of view. At any width the whole canvas fits the window, and no button's label
    sticks out of it (at exactly 820 px "Photo…" did, by a pixel)."""
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _open(page, api_url)
    page.eval_on_selector("#pad", "c => c.scrollIntoView({ block: 'center' })")
    box = page.locator("#pad").bounding_box()
    assert box["height"] <= height, box
    assert box["y"] >= 0, box
    assert box["y"] + box["height"] <= height, box
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    spill = page.eval_on_selector_all("button", "bs => bs.filter(b => b.scrollWidth > "
                                                "b.clientWidth).map(b => b.id)")
    assert spill == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"site-{width}x{height}.png"))
    context.close()


def test_the_docs_page_says_where_the_schema_is_when_swagger_ui_cannot_load(blank_page,
                                                                          api_url):
    """Offline, or with the CDN blocked, /docs was a blank page."""
    page = blank_page
    page.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page.goto(api_url + "/docs")
    message = page.locator("#swagger-ui p")
    message.wait_for()
    assert message.inner_text().startswith("Swagger UI (from cdn.jsdelivr.net) did not load.")
    page.click("#swagger-ui a")
    assert page.url == api_url + "/openapi.json"


# In CloudFront's policy here, any local port stands for any execute-api host of the region.
ANY_LOCAL_API = "http://127.0.0.1:*"


@pytest.fixture(scope="module")
def cross_origin_site(tmp_path_factory, site_port, api_url) -> Iterator[str]:
    """The site on its own origin as the deploy publishes it: its pages' own policy naming
    this API, the config.json naming it too, and CloudFront's security headers."""
    site = tmp_path_factory.mktemp("site")
    for key, body in publisher.site_objects(ROOT / "static_site", api_url + "/").items():
        (site / key).parent.mkdir(parents=True, exist_ok=True)
        (site / key).write_bytes(body)
    headers = {"Content-Security-Policy": site_csp(ANY_LOCAL_API)}
    with static_server(site, site_port, headers) as url:
        yield url


def _record_csp_violations(page) -> None:
    """Before the page opens: each refusal by its policies lands in window.cspViolations."""
    page.add_init_script("""document.addEventListener("securitypolicyviolation",
        (e) => (window.cspViolations ||= []).push(`${e.violatedDirective} ${e.blockedURI}`));""")


def test_cross_origin_prediction_keyboard_only(blank_page, cross_origin_site, api_url):
    """Served as CloudFront serves it: its own origin and the deployed security headers."""
    page = blank_page
    _record_csp_violations(page)
    _open(page, cross_origin_site)
    _wait_api_state(page)
    # Keyboard only: a sample digit, then Enter on the focused canvas.
    page.focus("#sample")
    page.keyboard.press("Enter")
    page.focus("#pad")
    with page.expect_response(api_url + "/predict") as answer:
        page.keyboard.press("Enter")
    assert answer.value.ok
    assert answer.value.headers["access-control-allow-origin"] == cross_origin_site
    # A simple request: text/plain (the API reads JSON whatever the type), no preflight.
    assert answer.value.request.headers["content-type"] == "text/plain;charset=UTF-8"
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.inner_text("#digit").isdigit()
    assert sum(_shown_probabilities(page)) == pytest.approx(1.0, abs=1e-3)
    assert page.evaluate("window.cspViolations || []") == []


def test_the_published_page_may_not_connect_to_another_api(blank_page, cross_origin_site,
                                                           tmp_path):
    """CloudFront's policy lets through any API of the region (here, any local port); the
    page's own, which the publisher writes, this stack's API only. The other API answers
    any origin: only the policy stands in the way."""
    page = blank_page
    _record_csp_violations(page)
    _open(page, cross_origin_site)
    _wait_api_state(page)
    (tmp_path / "predict").write_text("{}")
    with static_server(tmp_path, free_port(), {"Access-Control-Allow-Origin": "*"}) as other:
        elsewhere = other + "/predict"
        outcome = page.evaluate("url => fetch(url).then(() => 'sent', (error) => error.name)",
                                elsewhere)
    assert outcome == "TypeError"
    page.wait_for_function("() => (window.cspViolations || []).length > 0", timeout=WAIT_MS)
    assert page.evaluate("window.cspViolations") == [f"connect-src {elsewhere}"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_drawing_areas_edge_has_3_to_1_contrast(browser, api_url, scheme):
    """WCAG 1.4.11 (axe does not check it): the white canvas on a white card is seen by
    its border only, which must stand out 3:1 from the card and from the paper."""
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    page = context.new_page()
    _open(page, api_url)
    border, paper, card = (css_rgb(c) for c in page.eval_on_selector("#pad", """c => [
        getComputedStyle(c).borderTopColor, getComputedStyle(c).backgroundColor,
        getComputedStyle(c.closest('.card')).backgroundColor]"""))
    context.close()
    assert contrast_ratio(border, card) >= 3, (border, card)
    assert contrast_ratio(border, paper) >= 3, (border, paper)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_buttons_edges_have_3_to_1_contrast(browser, api_url, scheme):
    """WCAG 1.4.11: a button on its card is told by its border (the primary one by its
    fill); enabled ones only, as the rule exempts disabled controls."""
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    page = context.new_page()
    _open(page, api_url)
    page.click("#sample")  # enables Undo and Clear
    edges = page.eval_on_selector_all("button:not(:disabled)", """buttons => buttons.map(b => [
        b.id, getComputedStyle(b).borderTopColor,
        getComputedStyle(b.closest('.card') || document.body).backgroundColor])""")
    context.close()
    assert {name for name, _, _ in edges} >= {"predict", "undo", "clear", "sample"}
    for name, border, card in edges:
        assert contrast_ratio(css_rgb(border), css_rgb(card)) >= 3, (name, border, card)


@pytest.fixture(scope="module")
def axe_js() -> Path:
    """axe-core as the axe-playwright-python package ships it (requirements-dev.txt)."""
    import axe_playwright_python  # a test dependency: missing, the test errors, never skips

    return Path(axe_playwright_python.__file__).parent / "axe.min.js"


def _axe_violations(page, axe_js: Path) -> list[str]:
    """axe-core run in the page as it is now: every rule, one line per rule broken."""
    settle(page)
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(axe_js))
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_no_accessibility_violations(browser, api_url, axe_js, viewport, scheme):
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    _open(page, api_url)
    _wait_api_state(page)
    found = {"at the start": _axe_violations(page, axe_js)}

    held = []
    page.route("**/predict", lambda r: held.append(r))
    page.uncheck("#live")
    page.click("#sample")
    page.click("#predict")
    assert _wait_phase(page, "busy") == "busy"
    found["while waiting"] = _axe_violations(page, axe_js)
    held[0].continue_()
    page.unroute("**/predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    found["with an answer"] = _axe_violations(page, axe_js)

    page.locator("#pad").scroll_into_view_if_needed()
    draw(page, [[(0.1, 0.1), (0.4, 0.1)]])  # live is off: the answer stays, outdated
    assert page.is_visible("body.stale")
    found["with an outdated answer"] = _axe_violations(page, axe_js)

    page.route("**/predict", lambda r: r.fulfill(json=_UNSURE_8))
    page.click("#predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    assert page.is_visible("#unsure-note")
    found["with an unsure answer"] = _axe_violations(page, axe_js)
    page.locator("#pad").scroll_into_view_if_needed()
    draw(page, [[(0.1, 0.2), (0.4, 0.2)]])
    assert page.is_visible("body.stale")
    found["with an outdated unsure answer"] = _axe_violations(page, axe_js)
    page.unroute("**/predict")

    page.click("#clear")
    page.click("#predict")  # an empty canvas: a warning
    assert _wait_phase(page, "error") == "error"
    found["with a warning"] = _axe_violations(page, axe_js)

    page.route("**/predict", lambda r: r.fulfill(status=503, json={"detail": "model unavailable"}))
    page.click("#sample")  # something to send
    page.click("#predict")
    page.wait_for_function("document.getElementById('message').dataset.kind === 'error'")
    found["with an error"] = _axe_violations(page, axe_js)
    context.close()
    found = {state: rules for state, rules in found.items() if rules}
    assert not found, json.dumps(found, indent=1)


def _badge(page) -> list:
    """The badge over the canvas: [hidden, text, kind, background colour]."""
    return page.eval_on_selector("#pad-badge", """b => [b.hidden, b.textContent,
        b.dataset.kind, getComputedStyle(b).backgroundColor]""")


def _held(page, held: list, n: int) -> None:
    while len(held) < n:
        page.wait_for_timeout(20)


def test_the_busy_badge_keeps_its_colour_after_an_unsure_or_outdated_answer(blank_page,
                                                                            api_url):
    page = blank_page
    held = []
    page.route("**/predict", lambda r: held.append(r))
    _open(page, api_url)
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    page.click("#predict")
    _held(page, held, 1)
    busy = _badge(page)
    assert busy[1:3] == ["Thinking…", "busy"]
    held[0].fulfill(json=_answer(8, 0.34, (3, 0.30)))  # unsure: the amber badge
    assert _wait_phase(page, "shown", "error") == "shown"
    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])  # and outdated: grey
    page.click("#predict")
    _held(page, held, 2)
    assert _badge(page) == busy  # was the last answer's amber
    held[1].fulfill(json=_answer(8))
    assert _wait_phase(page, "shown", "error") == "shown"


def _unreachable_then_held(page, api_url: str, live: bool) -> list:
    """The page told the API is unreachable, then a request for the drawing held unanswered."""
    page.route("**/predict", lambda r: r.abort("internetdisconnected"))
    held = []
    if not live:
        page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    _ask(page, live)
    assert _wait_phase(page, "error") == "error"
    assert page.inner_text("#message").startswith("Unreachable:")
    page.unroute("**/predict")
    page.route("**/predict", lambda r: held.append(r))
    return held


def test_back_online_while_a_request_runs_leaves_it_running(still_page, api_url):
    """The health check succeeds while the drawing's request is on its way: the message goes,
    "Thinking…" stays, and the request's answer is shown."""
    page = still_page
    held = _unreachable_then_held(page, api_url, live=False)
    _ask(page, live=False)
    _held(page, held, 1)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")  # /health is read again
    page.wait_for_function("document.getElementById('message').hidden", timeout=WAIT_MS)
    assert _phase(page) == "busy"
    assert _badge(page)[:3] == [False, "Thinking…", "busy"]
    held[0].fulfill(json=_answer(7))
    assert _wait_phase(page, "shown", "error") == "shown"
    assert _badge(page)[:3] == [False, "7 · 90.0%", "answer"]


def test_live_an_api_problem_kept_keeps_its_badge_when_a_request_is_dropped(still_page,
                                                                            api_url):
    """Live, "Unreachable" stays while the next stroke is sent; an Undo drops that request:
    the badge says "No connection" again, beside the message still shown."""
    page = still_page
    held = _unreachable_then_held(page, api_url, live=True)
    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])
    _ask(page, live=True)
    _held(page, held, 1)
    assert _badge(page)[1:3] == ["Thinking…", "busy"]
    page.click("#undo")
    assert _badge(page)[:3] == [False, "No connection", "error"]
    assert page.inner_text("#message").startswith("Unreachable:")


def test_live_a_problem_with_the_drawing_goes_with_the_next_stroke(still_page, api_url):
    """Only the API's own problems stay while live strokes go on: "too large" is the
    drawing's (its header says API ready), and a new stroke makes it another drawing."""
    page = still_page
    page.route("**/predict", lambda r: r.fulfill(status=413, json={"detail": [
        _problem("image is larger than 1000000 bytes", "image_too_large")]}))
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    _ask(page, live=True)
    assert _wait_phase(page, "error") == "error"
    assert page.inner_text("#message") == _TOO_LARGE
    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])
    assert page.is_hidden("#message")
    assert _badge(page)[0]


def test_only_the_main_button_draws(page):
    """A right click (its menu is kept away from the canvas) or a middle click is no stroke:
    it would add ink, and an undo step, that nobody drew."""
    page.uncheck("#live")
    box = page.locator("#pad").bounding_box()
    for button in ("right", "middle"):
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
        page.mouse.down(button=button)
        page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.7 * box["height"], steps=8)
        page.mouse.up(button=button)
        assert dark_pixels(page) == 0, f"a {button} click drew"
    assert page.is_disabled("#undo")


def test_a_second_finger_leaves_the_first_fingers_stroke_alone(browser, api_url):
    """A palm or a second finger touching a phone's canvas mid-stroke starts no stroke of its
    own and does not take the first one over: the stroke drawn is the first finger's, whole."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    _open(page, api_url)
    page.uncheck("#live")
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    cdp = page.context.new_cdp_session(page)

    def at(x: float, y: float, finger: int) -> dict:
        return {"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"], "id": finger}

    def touch(kind: str, *points: dict) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": list(points)})

    touch("touchStart", at(0.2, 0.1, 0))
    for y in np.linspace(0.1, 0.5, 12)[1:]:
        touch("touchMove", at(0.2, y, 0))
    touch("touchStart", at(0.2, 0.5, 0), at(0.8, 0.5, 1))  # the second finger lands
    for y in np.linspace(0.5, 0.9, 12)[1:]:
        touch("touchMove", at(0.2, y, 0), at(0.8, y, 1))  # both move
    touch("touchEnd")
    cdp.detach()
    right_half = page.eval_on_selector("#pad", """c => {
        const d = c.getContext('2d').getImageData(c.width / 2, 0, c.width / 2, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++;
        return n; }""")
    assert right_half == 0, "the second finger drew"
    assert ink_centre(page)[1] == pytest.approx(0.5 * 280, abs=20), "the first stroke is cut short"
    page.click("#undo")
    assert dark_pixels(page) == 0, "more than one stroke was drawn"
    context.close()


def test_ctrl_shift_z_is_no_undo(page):
    """Ctrl+Shift+Z is redo elsewhere; the page has no redo, and an undo there would take
    away one more stroke than the person meant."""
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    drawn = dark_pixels(page)
    for keys in ("Control+Shift+Z", "Meta+Shift+Z"):
        page.keyboard.press(keys)
        assert dark_pixels(page) == drawn, keys
    page.keyboard.press("Control+z")
    assert dark_pixels(page) == 0


def test_holding_enter_down_asks_once(page):
    """A held key repeats: each repeat would send the drawing again and cancel the last."""
    page.uncheck("#live")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    sent = _predict_requests(page)
    page.focus("#pad")
    for _ in range(4):
        page.keyboard.down("Enter")  # the first a press, then repeats
    page.keyboard.up("Enter")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    page.wait_for_timeout(200)
    assert len(sent) == 1


def test_escape_on_an_empty_canvas_is_no_undo_step(page):
    """Else Undo, after Escape pressed twice, would seem to do nothing."""
    page.uncheck("#live")
    page.keyboard.press("Escape")
    assert page.is_disabled("#undo")
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    drawn = dark_pixels(page)
    for _ in range(3):
        page.keyboard.press("Escape")
    page.click("#undo")
    assert dark_pixels(page) == drawn


def test_undo_while_drawing_keeps_the_stroke(page):
    """Ctrl+Z with the pen still down undoes nothing: the stroke being drawn is no step yet."""
    page.uncheck("#live")
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.15 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"], steps=8)
    page.keyboard.press("Control+z")
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.85 * box["height"], steps=8)
    page.mouse.up()
    assert dark_pixels(page) > 0
    page.click("#undo")
    assert dark_pixels(page) == 0
    assert page.is_disabled("#undo")


def test_a_landscape_photo_is_cut_to_its_middle_square(page, tmp_path):
    """A phone's 4:3 photo is framed on what it was pointed at: its middle, not its left."""
    from PIL import Image, ImageDraw

    photo = Image.new("RGB", (1600, 1200), "white")
    ImageDraw.Draw(photo).ellipse((700, 500, 900, 700), fill="black")  # at the middle
    photo.save(tmp_path / "middle.jpg", quality=95)
    page.route("**/predict", lambda r: r.fulfill(json=_answer(0, 0.99)))
    page.set_input_files("#photo-file", tmp_path / "middle.jpg")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")
    x, y = ink_centre(page)
    assert (x, y) == (pytest.approx(140, abs=5), pytest.approx(140, abs=5))


def test_the_same_sentence_is_not_said_again(page):
    """The status region is said each time it changes: stroke after stroke without an answer,
    "No prediction yet." is said once, not after every stroke."""
    page.uncheck("#live")
    page.evaluate(_RECORD_ANNOUNCEMENTS)
    for stroke in ([(0.5, 0.15), (0.5, 0.85)], [(0.3, 0.5), (0.7, 0.5)], [(0.3, 0.3), (0.7, 0.3)]):
        draw(page, [stroke])
    assert page.inner_text("#verdict-text") == "No prediction yet."
    assert page.evaluate("announced.filter(t => t === 'No prediction yet.').length") <= 1


def test_the_api_documentation_link_goes_to_the_api(blank_page, cross_origin_site, api_url):
    """Deployed, the page's origin (CloudFront) has no /docs: the link must name the API's."""
    _open(blank_page, cross_origin_site)
    assert blank_page.get_attribute("#api-docs", "href") == api_url + "/docs"


@pytest.mark.parametrize("api_url_in_config", ["javascript:alert(1)//", "data:text/html,x",
                                               "//evil.example", " "])
def test_a_config_api_url_that_is_no_http_url_is_ignored(blank_page, api_url,
                                                        api_url_in_config):
    """config.json's apiUrl becomes the docs link's href and the requests' base: anything
    but an http(s) URL is ignored and the page's own origin used, as with no config."""
    page = blank_page
    page.route("**/config.json", lambda r: r.fulfill(json={"apiUrl": api_url_in_config}))
    _open(page, api_url)
    assert page.get_attribute("#api-docs", "href") == "docs"  # the page's own origin
    page.uncheck("#live")
    draw(page, [[(0.3, 0.2), (0.7, 0.2), (0.45, 0.8)]])  # a 7
    page.click("#predict")
    assert _wait_phase(page, "shown", "error") == "shown", page.inner_text("#message")


def test_each_sample_differs_from_the_one_before(blank_page, api_url):
    """A Sample that shows the same digit again looks like a button that did nothing."""
    page = blank_page
    page.add_init_script("Math.random = () => 0;")  # the likeliest repeat, every time
    _open(page, api_url)
    page.uncheck("#live")
    shown = []
    for _ in range(4):
        page.click("#sample")
        shown.append(page.eval_on_selector("#pad", "c => c.toDataURL()"))
    assert all(a != b for a, b in itertools.pairwise(shown))
