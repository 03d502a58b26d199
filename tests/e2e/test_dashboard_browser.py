"""The dashboard in a real headless browser (Debian's chromium driven by Playwright) against a
real `hub serve` that processed a known set of messages: one delivered, one whose delivery the
recipient refused (parked delivery), and a reused MSH-10 with other bytes (parked message).

The numbers the pages show are compared with what the `hub` commands print for the same hub.
The overview's screenshot goes to the test's temporary directory; with
HUB_DASHBOARD_SCREENSHOT=docs/dashboard.png it refreshes the one the README shows.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hub.dashboard.auth import hash_password
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.registry import oru, refuse, scene, wait_for  # noqa: F401 - scene is a fixture

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "ops", "a test password, not a real one"


@pytest.fixture(scope="module")
def browser() -> Browser:
    """Debian's chromium, headless; Playwright downloads no browser of its own."""
    assert Path(CHROMIUM).exists(), "chromium is missing: scripts/browser.sh installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def processed(scene):  # noqa: F811 - the fixture imported above
    """A hub with its dashboard on, after: DASH-OK delivered to one doctor, DASH-AR refused
    (AR) by another, DASH-DUP stored then reused with other bytes (parked)."""
    accepting = scene.doctor("390001-11")
    refusing = scene.doctor("390002-11", respond=refuse("AR"))
    scene.env.env.update(HUB_DASHBOARD__PASSWORD_HASH=hash_password(PASSWORD, n=2**10),
                         HUB_DASHBOARD__USER=USER, HUB_DASHBOARD__SAMPLE_INTERVAL="0.5")
    scene.start()
    person = patient(390)
    for doctor in (accepting, refusing):
        scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)
    sent = [oru(person, "DASH-OK", accepting), oru(person, "DASH-AR", refusing),
            encoded(oru_r01(person, "DASH-DUP", n_obx=2)), encoded(oru_r01(person, "DASH-DUP", n_obx=3))]
    assert scene.send(*sent) == ["AA"] * 4
    assert scene.settled(4), scene.env.logs()
    assert wait_for(lambda: sorted(scene.states()) == ["delivered", "parked"]), scene.probe.deliveries()
    scene.person = person
    return scene


def _url(scene, path: str = "") -> str:
    return f"http://127.0.0.1:{scene.env.http_port}/dashboard/{path}"


def _logged_in(browser: Browser) -> Page:
    context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD},
                                  viewport={"width": 1280, "height": 1000})
    return context.new_page()


def _number(text: str) -> float:
    return float(text.strip())


def test_the_dashboard_shows_what_the_cli_shows_behind_a_login(processed, browser, tmp_path):
    env = processed.env
    # Asked through the browser context's own requests: headless chromium gives up on a page
    # at a 401 (net::ERR_INVALID_AUTH_CREDENTIALS) instead of showing it.
    for credentials in (None, {"username": USER, "password": "wrong"},
                        {"username": "root", "password": PASSWORD}):
        refused = browser.new_context(http_credentials=credentials).request.get(_url(processed))
        assert refused.status == 401, credentials
        assert refused.headers["www-authenticate"].startswith("Basic ")
    status = env.hub_json("status")
    page = _logged_in(browser)

    assert page.goto(_url(processed)).status == 200
    expect(page.locator("body[data-polled]")).to_be_attached()  # the script ran and polled
    for section in ("messages", "deliveries"):
        for name, n in status[section].items():
            expect(page.locator(f'[data-stat="{section}.{name}"]')).to_have_text(str(n))
    assert (status["messages"]["stored"], status["messages"]["parked"]) == (3, 1)
    for name, queue in status["queues"].items():
        expect(page.locator(f'[data-stat="queues.{name}.depth"]')).to_have_text(str(queue["depth"]))
        expect(page.locator(f'[data-stat="queues.{name}.consumers"]')).to_have_text(str(queue["consumers"]))
    # The 5-minute window holds every message of the test: its rates stand still meanwhile.
    for name in ("received_per_s", "filed_per_s", "delivered_per_s"):
        shown = page.locator(f'[data-stat="rates.{name}.5m"]').inner_text()
        assert _number(shown) == pytest.approx(status["rates"][name]["5m"]), name
    assert page.locator("#health").inner_text() == status["health"]["summary"]
    assert wait_for(lambda: int(page.locator("#chart").get_attribute("data-points") or 0) >= 3, 10)
    assert page.locator("#chart path.depth").count() == 1
    assert processed.person.family_name not in page.content()
    wanted = os.environ.get("HUB_DASHBOARD_SCREENSHOT")
    screenshot = REPO / wanted if wanted else tmp_path / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank

    assert page.request.post(_url(processed)).status == 405  # read-only


def test_parked_messages_and_deliveries_are_listed_with_their_reasons(processed, browser):
    [parked] = processed.env.hub_json("messages", "--state", "parked")
    [delivery] = processed.env.hub_json("deliveries", "list", "--state", "parked")
    page = _logged_in(browser)

    page.goto(_url(processed, "parked"))

    row = page.locator("#parked-messages tbody tr", has_text=parked["id"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("DASH-DUP")
    expect(row).to_contain_text(parked["reason"])
    assert parked["reason"].startswith("conflict")
    held = page.locator("#parked-deliveries tbody tr", has_text=delivery["id"])
    expect(held).to_contain_text(delivery["last_error"])
    expect(held).to_contain_text("refused: AR")
    page.goto(_url(processed, "destinations"))
    by_destination = processed.env.hub_json("status")["deliveries_by_destination"]
    for name, counts in by_destination.items():
        for state, n in counts.items():
            expect(page.locator(f'[data-stat="destinations.{name}.{state}"]')).to_have_text(str(n))
    expect(page.locator("#destinations tbody tr", has_text="failing")).to_contain_text("refused: AR")
    page.goto(_url(processed, "errors"))
    expect(page.locator("#errors")).to_contain_text(parked["reason"])


def test_a_trace_search_by_msh10_reaches_the_message_and_where_it_went(processed, browser):
    [message] = processed.env.hub_json("messages", "--control-id", "DASH-OK")
    [delivery] = processed.env.hub_json("deliveries", "list", "--message", message["id"])
    page = _logged_in(browser)
    page.goto(_url(processed, "trace"))

    page.fill("#q", "DASH-OK")
    page.click("button[type=submit]")

    section = page.locator("section.trace")
    expect(section).to_have_attribute("data-message", message["id"])
    expect(section.locator('[data-field="state"]')).to_have_text("stored")
    expect(section).to_contain_text(delivery["id"])
    expect(section.locator("tr", has_text=delivery["id"])).to_contain_text("delivered")
    expect(section).to_contain_text("lab_result")
    content = page.content()
    assert processed.person.matricule not in content and processed.person.family_name not in content
    page.fill("#q", "DASH-DUP")  # a reused MSH-10: both messages offered, each by its id
    page.click("button[type=submit]")
    expect(page.locator("#candidates tbody tr")).to_have_count(2)
    page.locator("#candidates a").first.click()
    expect(page.locator("section.trace")).to_have_attribute("data-message", re.compile(r"\S+"))
