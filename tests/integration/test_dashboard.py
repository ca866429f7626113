"""The dashboard in a real headless Chromium against one real embedded stack (API process on
SQLite, a Celery worker process, an ``ort-cpu`` agent process): sign in with a token (an
agent's credential refused), the devices page, a search followed live over server-sent events
to its result with the interactive Pareto plot, and a search canceled from its page. Each
page is screenshotted (``test-artifacts/ui/``) and checked with axe-core."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from latency_db import migrate
from latency_db.db import make_engine, make_session_factory

from ..services.conftest import Measured, seed_measurements
from .browser import accessibility_violations, chromium, screenshot, wait_for
from .conftest import Stack, start_stack
from .test_broker_loss import SEARCH as BROKER_LOSS_SEARCH

SEARCH = {
    **BROKER_LOSS_SEARCH,  # the tiny proxy and deploy shapes of the seeded lookup table
    "warmup_steps": 0,
    "finetune_steps": 0,
    "candidates": 4,
    "finalists": 2,
    "oracle": "predictor",  # latency from the seeded lookup table: no agent in the loop
}


class Dashboard:
    """The module's stack, its seeded device, and the worker started on first need."""

    def __init__(self, stack: Stack, measured: Measured) -> None:
        self.stack = stack
        self.measured = measured
        self.worker_started = False
        self.agent_device_id: str | None = None

    def ensure_worker(self) -> None:
        if not self.worker_started:
            self.stack.start_worker()
            self.worker_started = True

    def agent_device(self) -> str:
        """A device with an ``ort-cpu`` agent online (started on first need)."""
        if self.agent_device_id is None:
            api = self.stack.api()
            created = api.post("/devices", {"name": "ui-online", "kind": "cpu"})
            self.agent_device_id = device_id = str(created["device"]["id"])
            self.stack.start_agent("ui-online-agent", created["enrollment"]["token"])
            deadline = time.monotonic() + 60
            while "online" not in {a["state"] for a in api.get(f"/devices/{device_id}/agents")}:
                assert time.monotonic() < deadline, "the agent never came online"
                time.sleep(0.3)
        return self.agent_device_id

    def submit_search(self, steps: int) -> str:
        body = {
            "device_id": self.measured.device_id,
            "budget_ms": 30.0,
            "estimator": "proxyless",
            "config": {**SEARCH, "steps": steps},
        }
        return str(self.stack.api().post("/searches", body)["id"])


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    tmp = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{tmp / 'hwnas.sqlite3'}"
    migrate.upgrade(make_url(url))
    engine = make_engine(make_url(url))
    try:
        measured = seed_measurements(make_session_factory(engine), "cpu-seeded")
    finally:
        engine.dispose()
    stack = start_stack(tmp, url)
    try:
        yield Dashboard(stack, measured)
    finally:
        stack.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def signed_in(browser: Any, dashboard: Dashboard) -> Callable[[str], None]:
    """Open a dashboard path, signing in with the admin token first when asked to."""

    def open_page(path: str) -> None:
        browser.get(dashboard.stack.url + path)
        if "/ui/login" in browser.current_url:
            browser.find_element("id", "token").send_keys(dashboard.stack.token)
            browser.find_element("id", "sign-in").click()
            wait_for(browser, "signed in", lambda d: "/ui/login" not in d.current_url)

    return open_page


def _check_page(browser: Any, name: str) -> None:
    screenshot(browser, name)
    assert accessibility_violations(browser) == []


def test_sign_in_takes_a_user_token_into_an_http_only_cookie_and_refuses_agents(
    browser: Any, dashboard: Dashboard
) -> None:
    stack = dashboard.stack
    created = stack.api().post("/devices", {"name": "ui-enrolled", "kind": "cpu"})
    enroll = {
        "enrollment_token": created["enrollment"]["token"],
        "name": "ui-agent",
        "backend": "ort-cpu",
    }
    credential = httpx.post(f"{stack.url}/v1/agents/enroll", json=enroll).json()["credential"]
    browser.delete_all_cookies()
    browser.get(f"{stack.url}/ui/searches")
    wait_for(browser, "the sign-in form", lambda d: "/ui/login" in d.current_url)
    _check_page(browser, "login")
    browser.find_element("id", "token").send_keys(credential)
    browser.find_element("id", "sign-in").click()
    error = wait_for(browser, "the refusal", lambda d: d.find_elements("id", "login-error"))
    assert "agent credentials cannot sign in" in error[0].text
    assert browser.get_cookie("hwnas_session") is None
    browser.find_element("id", "token").send_keys(stack.token)
    browser.find_element("id", "sign-in").click()
    wait_for(browser, "the page asked for", lambda d: d.current_url.endswith("/ui/searches"))
    cookie = browser.get_cookie("hwnas_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    assert "hwnas_session" not in browser.execute_script("return document.cookie")


def test_devices_page_shows_agents_queue_depth_and_jobs_by_state(
    browser: Any, dashboard: Dashboard, signed_in: Callable[[str], None], tiny_onnx: Path
) -> None:
    stack = dashboard.stack
    api = stack.api()
    online = dashboard.agent_device()
    idle = api.post("/devices", {"name": "ui-idle", "kind": "edge"})["device"]["id"]
    sha = httpx.post(
        f"{stack.url}/v1/artifacts",
        params={"name": "tiny"},
        content=tiny_onnx.read_bytes(),
        headers={"Authorization": f"Bearer {stack.token}"},
    ).json()["sha256"]
    for _ in range(2):  # nobody serves this device: both stay queued
        stack.submit_model_job(idle, sha)
    signed_in("/ui/devices")
    card = wait_for(browser, "the idle device", lambda d: d.find_element("id", f"device-{idle}"))
    assert card.find_element("class name", "queue-depth").text == "2"
    assert card.find_element("class name", "count-queued").text == "2"
    assert card.find_element("class name", "count-succeeded").text == "0"
    assert card.find_element("class name", "clean-share").text == "none yet"
    seeded = browser.find_element("id", f"device-{dashboard.measured.device_id}")
    assert seeded.find_element("class name", "clean-share").text == "100.0%"
    agents = browser.find_element("id", f"device-{online}").find_element("class name", "agents")
    row = agents.find_element("css selector", "tbody tr").text
    assert "ui-online-agent" in row and "online" in row and "ort-cpu" in row, row
    assert "UTC" in row  # its last heartbeat
    _check_page(browser, "devices")


@pytest.mark.slow
def test_a_search_page_follows_the_search_live_to_its_pareto_plot(
    browser: Any, dashboard: Dashboard, signed_in: Callable[[str], None]
) -> None:
    search_id = dashboard.submit_search(steps=8)
    signed_in(f"/ui/searches/{search_id}")
    loaded_with = int(browser.find_element("id", "events-count").text)
    browser.execute_script("window.sameLoad = true")  # gone once the page reloads
    dashboard.ensure_worker()
    wait_for(
        browser,
        "step events streamed into the page as loaded (not a reload)",
        lambda d: (
            d.execute_script("return window.sameLoad === true")
            and int(d.find_element("id", "events-count").text) > loaded_with
        ),
        timeout_s=120,
    )
    assert browser.find_element("id", "chart-expected_latency_ms").find_elements(
        "class name", "series"
    )
    screenshot(browser, "search-live")
    wait_for(browser, "the result", lambda d: d.find_elements("id", "result"), timeout_s=180)
    assert browser.find_element("id", "search-state").text == "succeeded"
    # the predictor oracle answers at once: nothing is ever pending on the device
    assert browser.find_element("id", "measurements-pending").text == "0"
    points = browser.find_elements("css selector", "svg.pareto .point")
    assert len(points) >= 2
    chosen = browser.find_element("css selector", "svg.pareto .point.chosen")
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element(chosen).perform()
    tooltip = browser.find_element("id", "tooltip")
    wait_for(browser, "the hover tooltip", lambda d: tooltip.is_displayed())
    result = dashboard.stack.api().get(f"/searches/{search_id}/result")["result"]
    assert result["architecture"] in tooltip.text
    assert f"predicted {result['predicted_latency_ms']:.3f} ms" in tooltip.text
    links = browser.find_elements("css selector", "#artifacts a")
    assert {a.text.split(" ")[0] for a in links} == set(result["artifacts"])
    onnx = next(a for a in links if a.text.startswith("onnx")).get_attribute("href")
    downloaded = httpx.get(onnx, cookies={"hwnas_session": dashboard.stack.token})
    stored = dashboard.stack.api().get_bytes(f"/artifacts/{result['artifacts']['onnx']}/content")
    assert downloaded.status_code == 200 and downloaded.content == stored
    _check_page(browser, "search-result")
    signed_in("/ui/searches?state=succeeded")
    assert search_id in browser.find_element("class name", "searches").text
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "estimator-filter")).select_by_value("darts")
    browser.find_element("css selector", "form.filters button[type=submit]").click()
    wait_for(
        browser,
        "the filtered list",
        lambda d: "matching the filters" in d.find_element("class name", "searches").text,
    )
    Select(browser.find_element("id", "estimator-filter")).select_by_value("proxyless")
    device = Select(browser.find_element("id", "device-filter"))
    device.select_by_value(dashboard.measured.device_id)
    browser.find_element("css selector", "form.filters button[type=submit]").click()
    wait_for(
        browser,
        "the search under its estimator and device",
        lambda d: search_id in d.find_element("class name", "searches").text,
    )
    row = browser.find_element("css selector", "table.searches tbody tr").text
    chosen = Select(browser.find_element("id", "device-filter")).first_selected_option.text
    assert chosen in row and dashboard.measured.device_id not in row  # by name, not id
    _check_page(browser, "searches")


def test_the_owner_cancels_a_running_search_from_its_page(
    browser: Any, dashboard: Dashboard, signed_in: Callable[[str], None]
) -> None:
    search_id = dashboard.submit_search(steps=4000)
    dashboard.ensure_worker()
    signed_in(f"/ui/searches/{search_id}")
    wait_for(
        browser,
        "the search running",
        lambda d: d.find_element("id", "search-state").text == "running",
        timeout_s=120,
    )
    browser.find_element("id", "cancel-search").click()
    wait_for(
        browser,
        "the search canceled",
        lambda d: d.find_element("id", "search-state").text == "canceled",
        timeout_s=60,
    )
    assert not browser.find_elements("id", "cancel-search")
    assert dashboard.stack.api().get(f"/searches/{search_id}")["state"] == "canceled"


def test_lookup_table_heatmap_entry_and_a_predictor_form(
    browser: Any, dashboard: Dashboard, signed_in: Callable[[str], None]
) -> None:
    from selenium.webdriver.support.ui import Select

    measured = dashboard.measured
    api = dashboard.stack.api()
    dashboard.ensure_worker()
    fit = api.post(
        "/predictors/fits",
        {"device_id": measured.device_id, "space_ref": measured.space.ref, "kind": "linear"},
    )
    signed_in("/ui/lookup-tables")
    Select(browser.find_element("id", "lut-device")).select_by_visible_text("cpu-seeded")
    browser.find_element("id", "lut-space").send_keys(measured.space.ref)
    browser.find_element("id", "show-table").click()
    coverage = wait_for(browser, "the table", lambda d: d.find_element("id", "coverage"))
    total = len(measured.lut_ms)
    assert f"{total} of {total} op keys measured" in coverage.text
    cells = browser.find_elements("css selector", "#heatmap td.measured a")
    assert len(cells) >= total
    _check_page(browser, "lookup-table")
    key = cells[0].get_attribute("title")
    cells[0].click()
    verdict = wait_for(
        browser, "the entry's measurement", lambda d: d.find_element("id", "verdict")
    )
    assert verdict.text == "clean" and key in browser.find_element("tag name", "main").text
    assert len(browser.find_elements("css selector", "#histogram rect")) > 0
    _check_page(browser, "measurement")

    deadline = time.monotonic() + 120
    while (state := api.get(f"/predictors/fits/{fit['id']}"))["state"] != "succeeded":
        assert state["state"] in ("queued", "running"), state
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    version = state["predictor_id"]
    signed_in("/ui/predictors")
    card = browser.find_element("id", f"predictor-{version}")
    assert "mape_pct" in card.find_element("class name", "metrics").text
    image = card.find_element("class name", "calibration")
    wait_for(
        browser,
        "the calibration plot",
        lambda d: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", image
        ),
    )
    arch = measured.space.format(measured.space.sample(7))
    card.find_element("id", f"arch-{version}").send_keys(arch)
    card.find_element("css selector", "button[type=submit]").click()
    shown = wait_for(browser, "the prediction", lambda d: d.find_element("id", "predicted-ms"))
    (expected,) = api.post(f"/predictors/{version}/predict", {"architectures": [arch]})
    assert shown.text == f"{expected['latency_ms']:.4g} ms"
    _check_page(browser, "predictors")
    browser.find_element("id", f"arch-{version}").clear()
    browser.find_element("id", f"arch-{version}").send_keys("k3_e6 nonsense")
    browser.find_element("id", f"predictor-{version}").find_element(
        "css selector", "button[type=submit]"
    ).click()
    error = wait_for(
        browser, "the refusal", lambda d: d.find_element("css selector", "#prediction .error")
    )
    assert "architectures.0" in error.text


def test_a_profile_job_started_from_the_page_finishes_with_its_measurement(
    browser: Any, dashboard: Dashboard, signed_in: Callable[[str], None], tiny_onnx: Path
) -> None:
    from selenium.webdriver.support.ui import Select

    device = dashboard.agent_device()
    dashboard.ensure_worker()  # exports the architecture of the layers job
    signed_in("/ui/jobs")
    browser.find_element("id", "model-file").send_keys(str(tiny_onnx))
    Select(browser.find_element("id", "model-device")).select_by_value(device)
    browser.find_element("id", "profile-model").click()
    wait_for(browser, "the job's page", lambda d: d.find_elements("id", "job-state"))
    wait_for(
        browser,
        "the model job succeeded (the page reloads itself)",
        lambda d: d.find_element("id", "job-state").text == "succeeded",
        timeout_s=90,
    )
    job_id = browser.current_url.rsplit("/", 1)[-1]
    measurement = dashboard.stack.measurement_of(dashboard.stack.api().get(f"/jobs/{job_id}"))
    assert browser.find_element("id", "job-median").text == f"{measurement['median_ms']:.4g} ms"
    _check_page(browser, "job-model")

    measured = dashboard.measured
    signed_in("/ui/jobs")
    Select(browser.find_element("id", "layers-device")).select_by_value(device)
    browser.find_element("id", "layers-space").send_keys(measured.space.ref)
    arch = measured.space.format(measured.space.sample(3))
    browser.find_element("id", "layers-arch").send_keys(arch)
    browser.find_element("id", "profile-layers").click()
    wait_for(
        browser,
        "the layers job succeeded",
        lambda d: d.find_element("id", "job-state").text == "succeeded",
        timeout_s=120,
    )
    rows = browser.find_elements("css selector", "#layers tbody tr")
    assert any("layers.0" in r.text for r in rows), [r.text for r in rows][:5]
    _check_page(browser, "job-layers")
    signed_in("/ui/jobs")
    _check_page(browser, "jobs")
    browser.find_element("id", "layers-space").send_keys(measured.space.ref)
    browser.find_element("id", "layers-arch").send_keys("k3_e6 nonsense")
    browser.find_element("id", "profile-layers").click()
    error = wait_for(browser, "the refusal", lambda d: d.find_element("id", "job-error"))
    assert "architecture" in error.text
