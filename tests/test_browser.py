"""The chat page and the report viewer in a real browser: Playwright drives Debian's Chromium against
`qa serve` (gunicorn) on a free port.

Without /usr/bin/chromium these tests skip, unless QA_REQUIRE_BROWSER is set (CI sets it): then they fail.
Screenshots go to test-artifacts/ (git-ignored); docs/chat.png, docs/viewer.png and docs/browse.png are copies of them.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from qa.config import SAMPLE_REPORTS

from .conftest import ROOT, running_server, server_process

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
SEED = "how is London CRC doing on public protection?"
LONDON_TITLE = "London Community Rehabilitation Company - notable improvement from a very low base but much still to do"
LONDON_ID = "2018-03-london-crc-press-release"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ANSWERED = ".reply .answer, .reply .not-found, .reply .error-box"

# A second CRC that beats London on "reducing reoffending" unless the conversation says London.
NORTHSHIRE = """Northshire Community Rehabilitation Company: inspection of probation services (test fixture)

This fictional report exists only for the tests of Inspection QA.

Reducing reoffending. In Northshire, the work on reducing reoffending was good in every office. Inspectors found that reducing \
reoffending was at the centre of the work of every team. Programmes were delivered well and on time, case managers \
met the people they supervise often, and the rural offices were open on two evenings a week so that people in work \
could attend their appointments.
"""
HOSTILE = f"""Marlowe probation unit {SCRIPT} case notes

This fictional report exists only for the tests of Inspection QA: its text holds markup that must be shown as text.

Inspectors read the case notes of the Marlowe unit. One record held the text {SCRIPT} and another held {IMG} \
pasted from a web form, next to Tom &amp; Jerry.
"""
HOSTILE_META = ('{"publisher": "<b>Marlowe</b> Council <img src=x onerror=alert(2)>", '
                '"source": "javascript:alert(3)", "published": "2019-05-01"}')


def _need_browser() -> None:
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed: pip install -e '.[test]'"
    if reason:
        if os.environ.get("QA_REQUIRE_BROWSER"):
            pytest.fail(f"{reason}; QA_REQUIRE_BROWSER is set, so the browser tests must run")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The bundled sample, served."""
    with running_server(tmp_path_factory.mktemp("browser-sample") / "index", SAMPLE_REPORTS) as base:
        yield base


@pytest.fixture(scope="module")
def mixed_site(tmp_path_factory):
    """The bundled sample plus a second CRC and a report full of markup, served."""
    reports = tmp_path_factory.mktemp("browser-mixed-reports")
    for f in SAMPLE_REPORTS.iterdir():
        shutil.copy(f, reports / f.name)
    (reports / "northshire-crc.txt").write_text(NORTHSHIRE, encoding="utf-8")
    (reports / "hostile-report.txt").write_text(HOSTILE, encoding="utf-8")
    (reports / "hostile-report.meta.json").write_text(HOSTILE_META, encoding="utf-8")
    with running_server(tmp_path_factory.mktemp("browser-mixed") / "index", reports) as base:
        yield base


def _open_tab(browser, **context_options):
    """A fresh page that records every dialog (auto-dismissed), page error and console error."""
    context = browser.new_context(reduced_motion="reduce", **({"viewport": {"width": 1280, "height": 900}}
                                                             | context_options))
    page = context.new_page()
    tab = SimpleNamespace(page=page, context=context, dialogs=[], errors=[])
    page.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    return tab


@pytest.fixture()
def tab(browser):
    t = _open_tab(browser)
    yield t
    t.context.close()


def ask(page, question: str, n: int):
    """Types the question, sends it with Enter, waits for reply n and returns (the turn, the /ask request)."""
    page.fill("#question", question)
    with page.expect_request("**/ask") as request:
        page.press("#question", "Enter")
    turn = page.locator(f"#turn-{n}")
    turn.locator(ANSWERED).first.wait_for()
    return turn, request.value


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def focus_is_visible(page) -> bool:
    return page.evaluate("""() => {
        const s = getComputedStyle(document.activeElement);
        const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0
            && !/rgba\\(0, 0, 0, 0\\)|transparent/.test(s.outlineColor);
        return outline || s.boxShadow !== "none";
    }""")


def test_seed_question_shows_the_answer_and_a_source_card(tab, site):
    page = tab.page
    page.goto(site + "/")
    examples = page.locator("#example-list button")
    examples.first.wait_for()
    assert examples.count() >= 1
    assert page.locator("#new-conversation").is_hidden()  # nothing to clear yet

    turn, request = ask(page, SEED, 1)
    assert request.post_data_json == {"question": SEED, "history": []}
    assert page.locator("#examples").is_hidden()
    assert turn.locator(".you-asked-text").inner_text() == SEED
    answer = turn.locator(".answer")
    assert "quality of public protection work was variable" in answer.inner_text()
    assert answer.locator("a.cite").first.get_attribute("href") == "#source-1-1"

    card = page.locator("#source-1-1")
    assert LONDON_TITLE in card.locator(".source-title").inner_text()
    assert "8 March 2018" in card.locator(".source-meta").inner_text()
    assert "HM Inspectorate of Probation" in card.locator(".source-meta").inner_text()
    assert "quality of public protection work was variable" in card.locator(".passage").inner_text()
    marked = {m.lower() for m in card.locator(".passage mark").all_inner_texts()}
    assert {"public", "protection", "crc"} <= marked
    assert card.locator(".open-report").get_attribute("href") == f"/reports/{LONDON_ID}#{LONDON_ID}-1"
    shot(page, "chat.png")
    # The [1] marker leads to its card and moves focus there.
    answer.locator("a.cite").first.click()
    assert page.evaluate("document.activeElement.id") == "source-1-1"
    assert page.evaluate("document.getElementById('status').textContent").startswith("Answer: ")
    assert tab.errors == [] and tab.dialogs == []


def test_open_in_report_shows_the_highlighted_passage(tab, site):
    page = tab.page
    page.goto(site + "/")
    ask(page, SEED, 1)
    page.locator("#source-1-1 .open-report").click()
    page.wait_for_url(f"**/reports/{LONDON_ID}#{LONDON_ID}-1")
    target = page.locator(".chunk.target")
    target.wait_for()
    assert target.get_attribute("id") == f"{LONDON_ID}-1"
    assert page.locator(".chunk.target").count() == 1
    assert "quality of public protection work was variable" in target.inner_text()
    assert target.is_visible() and page.evaluate("document.activeElement.id") == f"{LONDON_ID}-1"
    box = target.bounding_box()
    assert 0 <= box["y"] < 900 / 2, "the cited passage is scrolled into view"
    assert page.locator("h1").inner_text() == LONDON_TITLE
    meta = page.locator(".report-meta").inner_text()
    assert "HM Inspectorate of Probation" in meta and "8 March 2018" in meta
    assert page.locator(".report-meta a", has_text="Original source").get_attribute("href").startswith(
        "https://www.justiceinspectorates.gov.uk/")
    assert page.locator("#cited-note").is_visible()
    shot(page, "viewer.png")
    # Every passage of the report is anchored by its chunk_id.
    ids = page.locator(".chunk[id]").evaluate_all("els => els.map(e => e.id)")
    assert ids == [f"{LONDON_ID}-{i}" for i in range(6)]
    # Back to the chat: the conversation is still there.
    page.go_back()
    page.locator("#turn-1 .answer").wait_for()
    assert page.locator("#turn-1 .you-asked-text").inner_text() == SEED
    assert tab.errors == [] and tab.dialogs == []


def test_follow_up_question_carries_the_history(tab, mixed_site):
    follow_up = "and on reducing reoffending?"
    alone = requests.get(mixed_site + "/ask", params={"q": follow_up}, timeout=10).json()
    assert alone["passages"][0]["citation"]["report_id"] == "northshire-crc", "the follow-up alone is about Northshire"

    page = tab.page
    page.goto(mixed_site + "/")
    ask(page, SEED, 1)
    turn, request = ask(page, follow_up, 2)
    assert request.post_data_json == {"question": follow_up, "history": [SEED]}
    card = page.locator("#source-2-1")
    assert LONDON_TITLE in card.locator(".source-title").inner_text()
    assert "Reducing reoffending" in card.locator(".passage").inner_text()
    assert {m.lower() for m in card.locator(".passage mark").all_inner_texts()} >= {"reducing", "reoffending"}
    assert turn.locator(".answer a.cite").first.get_attribute("href").startswith("#source-2-")

    # A new conversation forgets the history.
    page.click("#new-conversation")
    assert page.locator("#conversation .turn").count() == 0
    assert page.evaluate("document.activeElement.id") == "question"
    _, request = ask(page, follow_up, 1)
    assert request.post_data_json["history"] == []
    assert "Northshire" in page.locator("#source-1-1 .source-title").inner_text()
    assert tab.errors == [] and tab.dialogs == []


def test_out_of_scope_question_is_answered_plainly(tab, site):
    page = tab.page
    page.goto(site + "/")
    turn, _ = ask(page, "what is the recipe for a victoria sponge cake?", 1)
    box = turn.locator(".not-found")
    assert box.locator(".not-found-title").inner_text() == "Nothing in the reports answers this."
    hint = box.locator(".not-found-hint")
    assert "Try other words" in hint.inner_text()
    assert hint.locator("a").get_attribute("href") == "/browse"
    assert turn.locator(".answer").count() == 0
    assert page.evaluate("document.getElementById('status').textContent").startswith("Nothing in the reports")
    assert tab.errors == [] and tab.dialogs == []


def test_report_markup_is_shown_as_text_in_chat_and_viewer(tab, mixed_site):
    page = tab.page
    page.goto(mixed_site + "/")
    question = f"What did inspectors find in the Marlowe case notes {IMG}?"
    turn, _ = ask(page, question, 1)
    assert turn.locator(".you-asked-text").inner_text() == question
    card = page.locator("#source-1-1")
    assert card.locator(".source-title").inner_text().endswith(f"Marlowe probation unit {SCRIPT} case notes")
    assert "<b>Marlowe</b> Council <img src=x onerror=alert(2)>" in card.locator(".source-meta").inner_text()
    passage = card.locator(".passage").inner_text()
    assert SCRIPT in passage and IMG in passage and "Tom &amp; Jerry" in passage
    assert SCRIPT in turn.locator(".answer").inner_text()
    assert page.locator("#conversation img, #conversation script, #conversation b").count() == 0

    card.locator(".open-report").click()
    page.locator(".chunk.target").wait_for()
    assert page.locator("h1").inner_text() == f"Marlowe probation unit {SCRIPT} case notes"
    assert page.title().startswith(f"Marlowe probation unit {SCRIPT} case notes")
    text = page.locator(".report-text").inner_text()
    assert SCRIPT in text and IMG in text and "Tom &amp; Jerry" in text
    meta = page.locator(".report-meta")
    assert "<b>Marlowe</b> Council <img src=x onerror=alert(2)>" in meta.inner_text()
    assert "javascript:alert(3)" in meta.inner_text()
    assert page.locator("a[href^='javascript:']").count() == 0
    assert page.locator("main img, main b, main script").count() == 0
    assert page.evaluate("[...document.scripts].map(s => new URL(s.src).pathname)") == ["/static/report.js"]

    page.goto(mixed_site + "/browse")
    assert f"Marlowe probation unit {SCRIPT} case notes" in page.locator(".report-list").inner_text()
    assert page.locator("main img, main b, main script").count() == 0
    page.wait_for_load_state("load")  # every image has loaded or failed: an injected onerror has run by now
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done)))")
    assert tab.dialogs == []
    assert tab.errors == []


def test_keyboard_only_ask_and_open(tab, site):
    page = tab.page
    page.goto(site + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible() and focus_is_visible(page)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "question"

    # Enter on an empty box says what to do; Shift+Enter adds a line without sending.
    page.keyboard.press("Enter")
    assert page.locator("#question-error").inner_text() == "Type a question first."
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.input_value("#question") == "first line\nsecond line"
    assert page.locator("#conversation .turn").count() == 0
    page.keyboard.press("Control+A")
    page.keyboard.type(SEED)
    page.keyboard.press("Enter")
    page.locator("#turn-1 .answer").wait_for()
    assert page.evaluate("document.activeElement.id") == "question", "focus stays in the box for a follow-up"

    # Back from the box to the answer's [1]: every stop shows where focus is.
    for _ in range(20):
        page.keyboard.press("Shift+Tab")
        assert focus_is_visible(page), page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
        if page.evaluate("document.activeElement.getAttribute('href')") == "#source-1-1":
            break
    else:
        pytest.fail("Shift+Tab never reached the [1] marker of the answer")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "source-1-1"
    assert focus_is_visible(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "open-report"
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/reports/{LONDON_ID}#{LONDON_ID}-1")
    page.locator(".chunk.target").wait_for()
    assert page.evaluate("document.activeElement.id") == f"{LONDON_ID}-1"
    assert tab.errors == [] and tab.dialogs == []


def test_loading_state_and_errors_are_shown_in_words(tab, site):
    page = tab.page
    page.goto(site + "/")
    held = []
    page.route("**/ask", lambda route: held.append(route))
    page.fill("#question", SEED)
    page.press("#question", "Enter")
    loading = page.locator("#turn-1 .loading")
    loading.wait_for()
    assert "Searching the reports" in loading.inner_text()
    assert page.get_attribute("#conversation", "aria-busy") == "true"
    page.press("#question", "Enter")  # ignored while an answer is on its way
    assert page.locator("#conversation .turn").count() == 1
    page.wait_for_timeout(100)
    held[0].fulfill(status=503, content_type="application/json", body='{"error": {"code": "index_unavailable", '
                    '"message": "no index has been built yet; run qa index build"}}')
    error = page.locator("#turn-1 .error-message")
    error.wait_for()
    assert error.inner_text() == ("The service failed to answer (error 503): no index has been built yet; "
                                  "run qa index build. Try again in a moment.")
    assert page.get_attribute("#conversation", "aria-busy") == "false"

    # Try again goes to the real server this time.
    page.unroute("**/ask")
    page.locator("#turn-1 .retry").click()
    page.locator("#conversation .answer").wait_for()
    assert page.locator("#conversation .turn").count() == 1

    page.route("**/ask", lambda route: route.fulfill(status=502, content_type="text/html",
                                                      body="<html><body>Bad gateway</body></html>"))
    turn, _ = ask(page, "anything", 3)
    assert turn.locator(".error-message").inner_text() == (
        "The service failed to answer (error 502). Try again in a moment.")
    page.route("**/ask", lambda route: route.abort())
    turn, _ = ask(page, "anything", 4)
    assert "could not be reached" in turn.locator(".error-message").inner_text()
    page.unroute("**/ask")

    # A real 4xx from the server: the box's own limit lifted, a question of 1,001 characters.
    page.evaluate("document.getElementById('question').removeAttribute('maxlength')")
    turn, _ = ask(page, "x" * 1001, 5)
    assert turn.locator(".error-message").inner_text() == (
        "The question was not accepted (error 400): 'question' is 1001 characters long; the limit is 1000.")
    assert tab.dialogs == []


def test_phone_width_and_contrast(browser, site):
    t = _open_tab(browser, viewport={"width": 375, "height": 740})
    page = t.page
    try:
        page.goto(site + "/")
        ask(page, SEED, 1)
        for url in (None, f"/reports/{LONDON_ID}#{LONDON_ID}-1", "/browse"):
            if url:
                page.goto(site + url)
            width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert width[0] <= width[1], f"{url or '/'} scrolls sideways at 375 px"
        page.goto(site + "/")
        page.locator("#turn-1 .answer").wait_for()
        ratios = page.evaluate("""(selectors) => {
            const parse = (c) => {
                const p = c.match(/[\\d.]+/g).map(Number);
                return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
            };
            const lum = ({ r, g, b }) => [r, g, b].map((v) => {
                v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
            const background = (el) => {
                for (let e = el; e; e = e.parentElement) {
                    const c = parse(getComputedStyle(e).backgroundColor);
                    if (c.a > 0.5) return c;
                }
                return { r: 255, g: 255, b: 255, a: 1 };
            };
            return selectors.map((sel) => {
                const el = document.querySelector(sel);
                const [hi, lo] = [lum(parse(getComputedStyle(el).color)), lum(background(el))].sort((a, b) => b - a);
                return [sel, (hi + 0.05) / (lo + 0.05)];
            });
        }""", ["body", ".lede", ".you-asked-label", ".answer", "a.cite", ".sources-legend", ".source-meta",
               ".passage mark", ".open-report", ".hint", "#ask-button", "#new-conversation", ".brand",
               "header nav a"])
        low = [(sel, round(r, 2)) for sel, r in ratios if r < 4.5]
        assert low == [], f"contrast below 4.5:1 (WCAG AA): {low}"
        assert t.errors == [] and t.dialogs == []
    finally:
        t.context.close()


def test_browse_lists_every_report_and_opens_one(tab, mixed_site):
    page = tab.page
    page.goto(mixed_site + "/browse")
    links = page.locator(".report-list h2 a")
    assert links.count() == 3
    assert requests.get(mixed_site + "/reports", timeout=10).headers["Content-Type"].startswith("application/json")
    page.locator(".report-list h2 a", has_text="Northshire").click()
    page.wait_for_url("**/reports/northshire-crc")
    assert page.locator("h1").inner_text().startswith("Northshire Community Rehabilitation Company")
    assert page.locator(".chunk.target").count() == 0 and page.locator("#cited-note").is_hidden()
    assert tab.errors == [] and tab.dialogs == []


def test_browse_without_an_index_says_so(tmp_path):
    from qa.app import create_app

    r = create_app(tmp_path / "none").test_client().get("/browse")
    assert r.status_code == 503 and r.mimetype == "text/html"
    assert "no index has been built" in r.get_data(as_text=True)


def test_examples_are_questions_the_index_answers(site):
    examples = requests.get(site + "/examples", timeout=10).json()["examples"]
    assert 1 <= len(examples) <= 4
    for ex in examples:
        body = requests.post(site + "/ask", json={"question": ex["question"]}, timeout=10).json()
        assert body["found"] and body["passages"][0]["citation"]["report_id"] == ex["report_id"], ex


@pytest.mark.parametrize("path", ["/", "/static/chat.js", "/static/style.css", "/browse", "/examples",
                                  f"/reports/{LONDON_ID}", "/ask?q=risk"])
def test_pages_forbid_inline_script_and_sniffing(site, path):
    r = requests.get(site + path, timeout=10)
    assert r.status_code == 200
    csp = {d.split()[0]: d.split()[1:] for d in r.headers["Content-Security-Policy"].split(";") if d.strip()}
    assert csp["script-src"] == ["'self'"] and "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    assert csp["object-src"] == ["'none'"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.shared
def test_the_reports_page_names_every_report_as_its_first_page_does(tab, corpus_index_dir):
    """Titles and publishers read from the documents (issue 13), as a reader sees them on /browse."""
    command = [sys.executable, "-m", "qa", "serve", "--index", str(corpus_index_dir), "--port", "{port}"]
    with server_process(command) as base:
        page = tab.page
        page.goto(base + "/browse")
        titles = page.locator(".report-list h2").all_inner_texts()
        metas = " ".join(page.locator(".report-list .meta").all_inner_texts())
        shot(page, "browse.png")
    assert len(titles) == 17
    for expected in ("Infected Blood Inquiry", "Post Office Horizon IT Inquiry", "Behaviour Change",
                     "Management of Security at Visits Policy Framework", "Monthly Knife Crime Summary - July 2015",
                     "Rounds Green Primary School"):
        assert any(expected in t for t in titles), expected
    assert not {"Report", "The Report", "ID", "Dresscode", "[Insert title of document]"} & set(titles)
    for author in ("coopersk", "Heseltine", "Acrobat"):
        assert author not in metas
    assert "Ofsted" in metas and "House of Lords" in metas
    assert tab.errors == []
