"""A video call in headless Chromium through commbase's own pages and signalling.

An agent (dashboard sign-in, ``/dashboard/video/{room}``, then Join call) and a guest (the
room's guest link, ``/video/join?token=``, at phone width) in two browser contexts with
Chromium's fake camera and microphone: the guest waits, the agent joins, the guest's video reaches
the agent, the guest shares a screen, reloads and rejoins, the agent ends the call, the
guest rates it and the agent wraps it up. The room and its call, read back through the
REST API, carry the server's timings and the figures the browsers took from getStats().

One uvicorn server per stack (SQLite; PostgreSQL with Redis when configured), with the
WebSocket message limit ``commbase serve`` sets. Screenshots
go to ``tests/web/artifacts/`` (gitignored; ``COMMBASE_TEST_ARTIFACTS`` moves them).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from commbase.app import create_app
from commbase.cli.processes import ws_max_size
from commbase.core.db import Database
from commbase.core.http import ClientInfo
from commbase.identity import service as identity_service
from commbase.identity.api_keys import service as api_keys
from commbase.identity.api_keys.schemas import ApiKeyCreate
from commbase.identity.roles import Role
from commbase.identity.schemas import UserCreate
from commbase.settings import Settings
from tests.conftest import in_thread, make_settings, module_stack
from tests.identity.factories import PASSWORD, principal_for
from tests.web.conftest import ARTIFACTS, Server, free_port, no_chromium, serving

AGENT_EMAIL = "agent@video.example"
FAKE_MEDIA = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",  # grants camera, microphone and getDisplayMedia
    "--use-fake-device-for-media-stream",  # a generated camera picture and a beeping mic
]
# A picture that moves: the receiving element's decoded frames, read twice.
FRAMES = """sel => {
  const v = document.querySelector(sel);
  if (!v || !v.videoWidth) return null;
  return {width: v.videoWidth, height: v.videoHeight,
          frames: v.getVideoPlaybackQuality().totalVideoFrames};
}"""
SAMPLES_SENT = "() => Number(document.querySelector('[data-samples]').dataset.samples) >= 1"

pytestmark = no_chromium
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


async def _seed(settings: Settings) -> str:
    """An organization whose owner signs in as the agent; returns the owner's API key."""
    database = Database(settings.database_url)
    try:
        async with database.sessionmaker() as session:
            org = await identity_service.create_organization(session, name="Video Support")
            owner, _ = await identity_service.create_user(
                session,
                data=UserCreate(
                    email=AGENT_EMAIL,
                    password=PASSWORD,
                    first_name="Alma",
                    last_name="Agent",
                    role=Role.OWNER,
                ),
                org_id=org.id,
            )
            _, secret = await api_keys.create_key(
                session,
                data=ApiKeyCreate(name="video test"),
                actor=principal_for(org_id=org.id, user_id=owner.id, role=Role.OWNER),
                client=ClientInfo(None, None, None, None),
                secret=settings.secret_key.get_secret_value(),
                tiers=settings.rate_limit_tiers,
            )
            await session.commit()
            return secret
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def server(
    stack: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    database_url, redis_url = module_stack(stack, request, tmp_path_factory, "video")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Guest links and signal URLs name this server.
    settings = make_settings(database_url, redis_url, public_base_url=base)
    api_key = in_thread(lambda: _seed(settings))
    app = create_app(settings)
    with serving(app, port, ws_max_size=ws_max_size()):
        started = Server(base, api_key)
        wallet = started.api("POST", "/v1/wallets", json={"owner_type": "organization"})
        assert wallet.status_code == 201, wallet.text
        topup = started.api(
            "POST", f"/v1/wallets/{wallet.json()['id']}/topups", json={"amount": 100_000}
        )
        assert topup.status_code == 201, topup.text
        yield started


@pytest.fixture(scope="module")
def browser_args() -> list[str]:
    return FAKE_MEDIA


class QualitySamples:
    """The quality samples a page posted, by what the server answered.

    A sample sent sooner than the endpoint's one per 4 s (browser timers drift on a
    loaded machine) is answered 429 and not stored. A sample in flight when its page
    reloads or closes has no answer the page can see: the server may have stored it
    or not, so the stored count lies between the accepted and the not-refused ones.
    """

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[Any] = []

    def watch(self, page: Any) -> None:
        def sending(request: Any) -> None:
            if request.method == "POST" and request.url.endswith("/quality"):
                self.sent.append(request)

        def answered(response: Any) -> None:
            request = response.request
            if request.method == "POST" and request.url.endswith("/quality"):
                if response.ok:
                    self.accepted.append(request.post_data_json)
                else:
                    self.refused.append(request)

        page.on("request", sending)
        page.on("response", answered)

    def maybe_stored(self) -> list[dict[str, Any]]:
        """Every sample not refused: a superset of what the server stored."""
        return [r.post_data_json for r in self.sent if all(r is not x for x in self.refused)]


def _moving_video(page: Any, selector: str) -> dict[str, int]:
    """The element's size once its decoded-frame count has grown; fails if it stalls."""
    # Functions, not expressions: the pages' CSP (no 'unsafe-eval') applies to the test too.
    page.wait_for_function(f"sel => ({FRAMES})(sel) !== null", arg=selector, timeout=15_000)
    first = page.evaluate(FRAMES, selector)
    page.wait_for_function(
        f"([sel, n]) => (({FRAMES})(sel) || {{frames: 0}}).frames > n",
        arg=[selector, first["frames"] + 5],
        timeout=10_000,
    )
    shown: dict[str, int] = page.evaluate(FRAMES, selector)
    assert shown["width"] > 0
    assert shown["height"] > 0
    return shown


def test_an_agent_and_a_guest_talk_share_a_screen_reconnect_and_end(
    browser: Any, server: Server
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    created = server.api(
        "POST", "/v1/video/rooms", json={"title": "Router setup", "customer_name": "Carla"}
    )
    assert created.status_code == 201, created.text
    room = created.json()
    assert room["guest_url"].startswith(server.base + "/video/join?token=")

    # The customer opens the link on a phone-sized screen and waits.
    guest_context = browser.new_context(viewport={"width": 390, "height": 844})
    guest = guest_context.new_page()
    samples = QualitySamples()
    samples.watch(guest)
    answer = guest.goto(room["guest_url"])
    assert answer is not None
    assert answer.status == 200
    csp = answer.headers["content-security-policy"]
    assert "connect-src 'self'" in csp
    assert "script-src 'self'" in csp
    guest.get_by_label("Your name").fill("Carla")
    guest.get_by_role("button", name="Join the call").click()
    call = guest.locator("[data-video-call]")
    expect(call).to_have_attribute("data-state", "joined", timeout=10_000)
    expect(guest.get_by_role("status").first).to_contain_text("Waiting", timeout=10_000)
    time.sleep(1.2)  # a waiting time the server's clock can see

    # The agent signs in and opens the room.
    agent_context = browser.new_context(viewport={"width": 1280, "height": 900})
    agent = agent_context.new_page()
    samples.watch(agent)
    agent.goto(f"{server.base}/dashboard/video/{room['id']}")
    assert "/dashboard/login" in agent.url
    agent.get_by_label("Email").fill(AGENT_EMAIL)
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    agent.wait_for_url(f"**/dashboard/video/{room['id']}")
    # Opening the page joined nothing: the customer still waits for someone.
    assert server.api("GET", f"/v1/video/rooms/{room['id']}").json()["status"] == "waiting"
    expect(agent.get_by_role("status").first).to_contain_text("Join when you are ready")
    agent.get_by_role("button", name="Join call").click()

    # The guest's camera reaches the agent, and the agent's the guest.
    guest_camera = "video[data-kind=camera][data-role=guest]"
    seen = _moving_video(agent, guest_camera)
    assert 0 < seen["width"] <= 640  # the fake camera at 640x480, or less if WebRTC scaled it
    _moving_video(guest, "video[data-kind=camera][data-role=agent]")
    expect(guest.get_by_label("Video of Alma Agent")).to_have_count(1)

    # The guest shares a screen: a second video track, renegotiated, shown to the agent.
    guest.get_by_role("button", name="Share screen").click()
    expect(guest.get_by_role("button", name="Stop sharing")).to_have_attribute(
        "aria-pressed", "true"
    )
    screen = _moving_video(agent, "video[data-kind=screen]")
    assert screen["width"] > 0
    expect(agent.get_by_role("status").first).to_contain_text("sharing a screen")
    guest.screenshot(path=str(ARTIFACTS / "video-guest.png"), full_page=True)
    agent.screenshot(path=str(ARTIFACTS / "video-agent.png"), full_page=True)
    assert guest.evaluate("document.documentElement.scrollWidth") <= 390
    time.sleep(1.0)
    guest.get_by_role("button", name="Stop sharing").click()
    expect(agent.locator("video[data-kind=screen]")).to_have_count(0, timeout=10_000)

    # Both pages have reported getStats() figures at least once.
    agent.wait_for_function(SAMPLES_SENT, timeout=12_000)
    guest.wait_for_function(SAMPLES_SENT, timeout=12_000)

    # The guest reloads: the same participant rejoins, and the video flows again.
    participant = call.get_attribute("data-participant")
    guest.reload()
    expect(call).to_have_attribute("data-state", "joined", timeout=10_000)
    assert call.get_attribute("data-participant") == participant
    _moving_video(agent, guest_camera)
    guest.wait_for_function(SAMPLES_SENT, timeout=12_000)

    # The agent ends the call; the guest rates it, the agent wraps it up.
    agent.get_by_role("button", name="End call").click()
    expect(agent.get_by_role("status").first).to_have_text("The call has ended.", timeout=10_000)
    expect(guest.get_by_role("status").first).to_have_text("The call has ended.", timeout=10_000)
    guest.get_by_label("5 of 5").check()
    guest.get_by_role("button", name="Send rating").click()
    expect(guest.get_by_text("Thank you for your rating.")).to_be_visible()
    agent.get_by_label("Yes").check()
    agent.get_by_label("Outcome").select_option("resolved")
    with agent.expect_navigation():
        agent.get_by_role("button", name="Save wrap-up").click()
    expect(agent.get_by_text("Wrap-up saved: resolved, problem solved.")).to_be_visible()
    figure = agent.locator("dl.figures")
    expect(figure.locator("dt:text-is('Reconnections') + dd")).to_have_text("1")
    expect(figure.locator("dt:text-is('Screen shared') + dd")).to_contain_text("yes")
    expect(figure.locator("dt:text-is('Customer rating') + dd")).to_have_text("5 of 5")
    guest.screenshot(path=str(ARTIFACTS / "video-guest-ended.png"), full_page=True)
    agent.screenshot(path=str(ARTIFACTS / "video-agent-ended.png"), full_page=True)
    guest_context.close()
    agent_context.close()

    _check_the_record(server, room["id"], samples)


def test_a_guest_who_hangs_up_leaves_the_room_open_and_rates_it(
    browser: Any, server: Server
) -> None:
    created = server.api("POST", "/v1/video/rooms", json={"customer_name": "Dana"})
    assert created.status_code == 201, created.text
    room = created.json()
    agent_context = browser.new_context()
    agent = agent_context.new_page()
    agent.goto(f"{server.base}/dashboard/video/{room['id']}")
    agent.get_by_label("Email").fill(AGENT_EMAIL)
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    agent.get_by_role("button", name="Join call").click()
    agent_call = agent.locator("[data-video-call]")
    expect(agent_call).to_have_attribute("data-state", "joined", timeout=10_000)
    expect(agent.get_by_role("status").first).to_contain_text("Waiting", timeout=10_000)
    # The agent reloads: this tab's grant resumes the same participant, no Join needed.
    agent_participant = agent_call.get_attribute("data-participant")
    agent.reload()
    expect(agent_call).to_have_attribute("data-state", "joined", timeout=10_000)
    assert agent_call.get_attribute("data-participant") == agent_participant
    expect(agent.get_by_role("button", name="Join call")).to_be_hidden()
    expect(agent.get_by_role("status").first).to_contain_text("Waiting", timeout=10_000)
    guest_context = browser.new_context(viewport={"width": 390, "height": 844})
    guest = guest_context.new_page()
    guest.goto(room["guest_url"])
    guest.get_by_role("button", name="Join the call").click()
    expect(agent.locator("video[data-kind=camera][data-role=guest]")).to_have_count(1)

    guest.get_by_role("button", name="Hang up").click()
    expect(guest.get_by_role("status").first).to_have_text("You left the call.")
    expect(guest.get_by_role("heading", name="How was the call?")).to_be_visible()
    expect(agent.locator("video[data-kind=camera][data-role=guest]")).to_have_count(0)
    expect(agent.get_by_role("status").first).to_contain_text("left")
    guest.get_by_label("2 of 5").check()
    guest.get_by_label("Comment").fill("The picture froze")
    guest.get_by_role("button", name="Send rating").click()
    expect(guest.get_by_text("Thank you for your rating.")).to_be_visible()
    shown = server.api("GET", f"/v1/video/rooms/{room['id']}").json()
    assert shown["status"] != "ended"  # the guest left; the agent ends the room
    assert (shown["rating"], shown["rating_comment"]) == (2, "The picture froze")
    # Reloading after leaving asks to join again rather than resuming.
    guest.reload()
    expect(guest.get_by_role("button", name="Join the call")).to_be_visible()
    agent.get_by_role("button", name="End call").click()
    expect(agent.get_by_role("heading", name="Wrap-up")).to_be_visible()
    agent_context.close()
    guest_context.close()
    shown = server.api("GET", f"/v1/video/rooms/{room['id']}").json()
    assert (shown["status"], shown["reconnections"]) == ("ended", 1)  # the agent's reload


def test_a_signalling_message_over_64_kib_is_refused_while_read(server: Server) -> None:
    """uvicorn closes the socket (1009) before buffering the message: the room's own
    check, which answers a frame_too_large error first, never sees it."""
    room = server.api("POST", "/v1/video/rooms", json={}).json()
    grant = httpx.post(
        server.base + "/v1/video/guest/join", json={"token": room["guest_token"]}, timeout=10
    ).json()
    url = grant["signal_url"] + "?access_token=" + grant["access_token"]
    with connect(url, open_timeout=10) as socket_:
        assert '"welcome"' in str(socket_.recv(timeout=10))
        socket_.send("x" * 60_000)  # under the limit: read, and refused as a bad frame
        assert '"error"' in str(socket_.recv(timeout=10))
        socket_.send("x" * (ws_max_size() + 1))
        seen = _frames_until_closed(socket_)
    assert seen[-1] == "closed 1009"
    assert not any("frame_too_large" in frame for frame in seen)


def _frames_until_closed(socket_: Any) -> list[str]:
    """The frames received, then ``closed <code>`` of the server's close frame."""
    seen: list[str] = []
    while True:
        try:
            seen.append(str(socket_.recv(timeout=10)))
        except ConnectionClosed as closed:
            seen.append(f"closed {closed.rcvd.code if closed.rcvd else None}")
            return seen


def e_model_mos(rtt_ms: float, jitter_ms: float, loss: float) -> float:
    """The simplified E-model client.js documents, written again here."""
    latency = rtt_ms / 2 + 2 * jitter_ms + 10
    r = 93.2 - latency / 40 if latency < 160 else 93.2 - (latency - 120) / 10
    r = min(100.0, max(0.0, r - 2.5 * loss * 100))
    return round(min(4.5, max(1.0, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))), 2)


def test_the_clients_mos_is_the_documented_e_model(browser: Any, server: Server) -> None:
    page = browser.new_page()
    page.goto(server.base + "/video/static/video.css")  # any page of this origin
    cases = [(1, 0.5, 0.0), (120, 15, 0.01), (300, 30, 0.02), (600, 50, 0.1), (2000, 400, 0.5)]
    shown = page.evaluate(
        """cases => import('/video/static/client.js')
             .then(m => cases.map(([rtt, jitter, loss]) => m.estimateMos(rtt, jitter, loss)))""",
        cases,
    )
    assert shown == [e_model_mos(*case) for case in cases]
    assert shown[0] > 4.3 > shown[2] > shown[3] > shown[4] == 1.0
    page.close()


def _check_the_record(server: Server, room_id: str, samples: QualitySamples) -> None:
    """The room and its call as the REST API shows them after the call."""
    assert len(samples.accepted) >= 3
    posted = samples.maybe_stored()
    shown = server.api("GET", f"/v1/video/rooms/{room_id}")
    assert shown.status_code == 200, shown.text
    room = shown.json()
    assert room["status"] == "ended"
    assert room["reconnections"] == 1
    assert room["screen_share_used"] is True
    assert room["screen_share_seconds"] >= 1
    assert room["waiting_seconds"] is not None
    assert room["waiting_seconds"] >= 1
    assert room["response_seconds"] is not None
    assert room["response_seconds"] >= 1
    assert room["duration_seconds"] is not None
    assert 5 <= room["duration_seconds"] <= 120
    assert len(samples.accepted) <= room["quality_samples"] <= len(posted)
    assert (room["rating"], room["outcome"], room["problem_solved"]) == (5, "resolved", True)
    # Quality: what the browsers measured (loopback: short, clean, full picture).
    # A figure the browser did not report is left out, never sent as 0; a MOS is sent
    # only with the RTT, jitter and loss it is the E-model of.
    for p in posted:
        assert all(value is not None for value in p.values())
        if "mos" in p:
            expected = e_model_mos(p["rtt_ms"], p["jitter_ms"], p["packet_loss"])
            assert p["mos"] == pytest.approx(expected, abs=0.02)
        else:
            assert not {"rtt_ms", "jitter_ms", "packet_loss"} <= p.keys()
    moses = [p["mos"] for p in posted if "mos" in p]
    assert moses
    assert all(4.0 <= m <= 4.5 for m in moses)
    assert min(moses) <= room["mos_score"] <= max(moses)
    assert room["latency_ms"] is not None
    assert 0 <= room["latency_ms"] <= 200
    assert room["jitter_ms"] is not None
    assert 0 <= room["jitter_ms"] <= 100
    assert room["packet_loss"] is not None
    assert 0 <= room["packet_loss"] <= 0.05
    assert re.fullmatch(r"\d{2,5}x\d{2,5}", room["video_resolution"] or "")
    resolutions = {f"{p['frame_width']}x{p['frame_height']}" for p in posted if "frame_width" in p}
    assert room["video_resolution"] in resolutions
    assert any(p["bitrate_kbps"] > 50 and p.get("fps", 0) > 0 for p in posted)
    # The call record carries the seed's figures too.
    call = server.api("GET", f"/v1/calls/{room['call_id']}").json()
    assert call["kind"] == "video"
    assert call["duration_seconds"] == room["duration_seconds"]
    assert call["waiting_time_seconds"] == room["waiting_seconds"]
    assert call["response_time_seconds"] == room["response_seconds"]
    assert call["reconnections"] == 1
    assert call["screenshare_used"] is True
    assert call["mos_score"] == room["mos_score"]
    assert call["video_resolution"] == room["video_resolution"]
