"""Careers: positions, applications through the 13 stages, resumes on disk with size
and type limits, interviews, offers, withdrawal; seed 002's routes and the careers
page's intake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.core.time import FrozenClock, use_clock
from commbase.engagement.careers import service as careers_service
from commbase.engagement.careers.routes import resume_policy
from commbase.identity.roles import Role
from commbase.settings import Settings
from tests.conftest import client_for
from tests.engagement.test_support import event_types
from tests.identity.factories import Tenant, add_member, auth, make_tenant
from tests.identity.test_publishable_keys import ORIGIN, create_publishable_key

PDF = b"%PDF-1.7\n" + b"x" * 2000
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
APPS = "/v1/careers/applications"


@pytest.fixture
async def careers_app(settings: Settings, tmp_path: Path) -> AsyncIterator[FastAPI]:
    configured = settings.model_copy(
        update={"careers_resume_dir": str(tmp_path / "resumes"), "careers_resume_max_bytes": 4096}
    )
    application = create_app(configured)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def http(careers_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(careers_app) as client:
        yield client


async def position(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("title", "Backend engineer")
    response = await client.post("/v1/careers/positions", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def applicant(position_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "position_id": position_id,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "Ada@Example.com",
        "cover_letter": "I like engines.",
        **extra,
    }


async def test_seed_routes_stages_interviews_offer_and_resume(
    careers_app: FastAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    tenant = await make_tenant(careers_app)
    member_id, _ = await add_member(careers_app, tenant, role=Role.AGENT)
    job = await position(http, tenant, department="R&D", remote=True)
    # POST /api/careers/applications
    created = await http.post(
        APPS, json=applicant(job["id"], user_id=member_id), headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    assert created.json()["stage"] == "submitted"
    assert created.json()["email"] == "ada@example.com"

    # GET /api/careers/applications/user/:userId and /email/:email (staff only here)
    for query in (
        f"user_id={member_id}",
        "email=ADA@example.com",
        f"position_id={job['id']}",
    ):
        listed = await http.get(f"{APPS}?{query}", headers=tenant.headers)
        assert [a["id"] for a in listed.json()["data"]] == [app_id], query
    # GET /api/careers/applications/:applicationId
    assert (await http.get(f"{APPS}/{app_id}", headers=tenant.headers)).json()["id"] == app_id

    # Resume: type and size limits, stored on disk, downloadable by staff.
    for content, content_type, expected in (
        (PDF, "image/png", 415),
        (b"MZ not a pdf", "application/pdf", 415),
        (b"%PDF-" + b"x" * 5000, "application/pdf", 413),
        (b"", "application/pdf", 422),
    ):
        refused = await http.put(
            f"{APPS}/{app_id}/resume",
            content=content,
            headers={**tenant.headers, "Content-Type": content_type},
        )
        assert refused.status_code == expected, (content_type, refused.text)
    uploaded = await http.put(
        f"{APPS}/{app_id}/resume?filename=ada.pdf",
        content=PDF,
        headers={**tenant.headers, "Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["resume_size"] == len(PDF)
    stored = list((tmp_path / "resumes").rglob("*.pdf"))
    assert len(stored) == 1
    assert stored[0].read_bytes() == PDF
    download = await http.get(f"{APPS}/{app_id}/resume", headers=tenant.headers)
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"

    # Stages move forward (skipping is fine), never back.
    for stage, code in (
        ("phone_screen", 200),
        ("submitted", 409),
        ("interview", 200),
        ("offer_accepted", 409),
        ("hired", 409),
    ):
        moved = await http.post(
            f"{APPS}/{app_id}/stage", json={"stage": stage}, headers=tenant.headers
        )
        assert moved.status_code == code, (stage, moved.text)
    interview = await http.post(
        f"{APPS}/{app_id}/interviews",
        json={"scheduled_at": "2026-12-03T10:00:00Z", "interviewer_id": tenant.owner_id},
        headers=tenant.headers,
    )
    assert interview.status_code == 201, interview.text
    done = await http.patch(
        f"{APPS}/{app_id}/interviews/{interview.json()['id']}",
        json={"status": "completed", "rating": 4, "notes": "strong"},
        headers=tenant.headers,
    )
    assert done.json()["status"] == "completed"
    again = await http.patch(
        f"{APPS}/{app_id}/interviews/{interview.json()['id']}",
        json={"rating": 1},
        headers=tenant.headers,
    )
    assert again.status_code == 409
    listed = await http.get(f"{APPS}/{app_id}/interviews", headers=tenant.headers)
    assert len(listed.json()["data"]) == 1

    offer = await http.post(
        f"{APPS}/{app_id}/offer",
        json={"salary": 9_000_000, "currency": "EUR", "start_date": "2027-01-04"},
        headers=tenant.headers,
    )
    assert offer.status_code == 200, offer.text
    assert offer.json()["stage"] == "offer_extended"
    accepted = await http.post(
        f"{APPS}/{app_id}/stage", json={"stage": "offer_accepted"}, headers=tenant.headers
    )
    assert accepted.json()["offer_answered_at"] is not None
    hired = await http.post(
        f"{APPS}/{app_id}/stage", json={"stage": "hired"}, headers=tenant.headers
    )
    assert hired.json()["stage"] == "hired"
    # POST /api/careers/applications/:id/withdraw: too late once hired
    late = await http.post(f"{APPS}/{app_id}/withdraw", headers=tenant.headers)
    assert late.status_code == 409

    assert await event_types(careers_app, tenant.org_id, "job_") == [
        "job_application.submitted",
        "job_application.resume_uploaded",
        "job_application.stage_changed",
        "job_application.stage_changed",
        "job_interview.scheduled",
        "job_interview.updated",
        "job_application.offer_extended",
        "job_application.stage_changed",
        "job_application.stage_changed",
    ]

    closed = await http.patch(
        f"/v1/careers/positions/{job['id']}", json={"status": "closed"}, headers=tenant.headers
    )
    assert closed.json()["status"] == "closed"
    refused = await http.post(APPS, json=applicant(job["id"]), headers=tenant.headers)
    assert refused.status_code == 409
    other = await make_tenant(careers_app)
    assert (await http.get(f"{APPS}/{app_id}/resume", headers=other.headers)).status_code == 404

    # Erasing the member removes the application and, after commit, its file.
    erased = await http.post(
        "/v1/privacy/erasures",
        json={"subject_type": "user", "subject_id": member_id},
        headers=tenant.headers,
    )
    assert erased.status_code == 201, erased.text
    assert (await http.get(f"{APPS}/{app_id}", headers=tenant.headers)).status_code == 404
    assert list((tmp_path / "resumes").rglob("*.pdf")) == []


async def test_an_applicant_applies_uploads_answers_and_withdraws(
    careers_app: FastAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    tenant = await make_tenant(careers_app)
    key = (await create_publishable_key(http, tenant.api_key, scopes=["intake:careers"]))["key"]
    headers = {**auth(key), "Origin": ORIGIN}
    job = await position(http, tenant)
    await position(http, tenant, title="Old role")
    old = (await http.get("/v1/careers/positions", headers=tenant.headers)).json()["data"][0]
    await http.patch(
        f"/v1/careers/positions/{old['id']}", json={"status": "closed"}, headers=tenant.headers
    )
    listed = await http.get("/v1/intake/careers/positions", headers=headers)
    assert [p["id"] for p in listed.json()["data"]] == [job["id"]]

    receipt = await http.post(
        "/v1/intake/careers/applications", json=applicant(job["id"]), headers=headers
    )
    assert receipt.status_code == 201, receipt.text
    mine = {**headers, "X-Access-Token": receipt.json()["access_token"]}
    resume = await http.put(
        "/v1/intake/careers/application/resume?filename=cv.docx",
        content=b"PK\x03\x04" + b"d" * 100,
        headers={
            **mine,
            "Content-Type": DOCX,
        },
    )
    assert resume.status_code == 200, resume.text
    assert resume.json()["resume_filename"] == "cv.docx"
    assert "cover_letter" not in resume.json()
    app_id = receipt.json()["id"]
    early = await http.post("/v1/intake/careers/application/offer/accept", headers=mine)
    assert early.status_code == 409
    await http.post(
        f"{APPS}/{app_id}/offer", json={"salary": 100, "currency": "JPY"}, headers=tenant.headers
    )
    seen = await http.get("/v1/intake/careers/application", headers=mine)
    assert seen.json()["stage"] == "offer_extended"
    assert seen.json()["offer_currency"] == "JPY"
    withdrawn = await http.post(
        "/v1/intake/careers/application/withdraw", json={"reason": "other offer"}, headers=mine
    )
    assert withdrawn.json()["stage"] == "withdrawn"
    staff_view = await http.get(f"{APPS}/{app_id}", headers=tenant.headers)
    assert staff_view.json()["withdrawal_reason"] == "other offer"
    bot = await http.post(
        "/v1/intake/careers/applications",
        json={**applicant(job["id"]), "website": "spam"},
        headers=headers,
    )
    assert bot.status_code == 201
    assert len((await http.get(APPS, headers=tenant.headers)).json()["data"]) == 1
    stranger = await http.post(
        "/v1/intake/careers/applications", json=applicant(old["id"]), headers=headers
    )
    assert stranger.status_code == 409


async def test_rejected_applications_expire_with_their_resumes(
    careers_app: FastAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    tenant = await make_tenant(careers_app)
    clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with use_clock(clock):
        job = await position(http, tenant)
        ids = []
        for _ in range(2):
            created = await http.post(APPS, json=applicant(job["id"]), headers=tenant.headers)
            ids.append(created.json()["id"])
            await http.put(
                f"{APPS}/{ids[-1]}/resume",
                content=PDF,
                headers={**tenant.headers, "Content-Type": "application/pdf"},
            )
        rejected = await http.post(
            f"{APPS}/{ids[0]}/stage",
            json={"stage": "rejected", "reason": "not now"},
            headers=tenant.headers,
        )
        assert rejected.json()["rejection_reason"] == "not now"
        clock.advance(60)
        series = await http.get(
            "/v1/analytics/series?metrics=applications.submitted,applications.rejected"
            "&compare=false&from=2026-01-01T00:00:00Z&to=2026-01-10T00:00:00Z&interval=day",
            headers=tenant.headers,
        )
        assert series.status_code == 200, series.text
        totals = {s["metric"]: s["total"] for s in series.json()["series"]}
        assert totals == {"applications.submitted": 2, "applications.rejected": 1}
        by_stage = await http.get(
            "/v1/analytics/series?metrics=applications.submitted&group_by=stage"
            "&compare=false&from=2026-01-01T00:00:00Z&to=2026-01-10T00:00:00Z&interval=day",
            headers=tenant.headers,
        )
        assert by_stage.status_code == 200, by_stage.text
        groups = {s["group"]: s["total"] for s in by_stage.json()["series"]}
        assert groups == {"rejected": 1, "submitted": 1}
        clock.advance(179 * 86_400)
        run = await http.post("/v1/jobs/privacy.retention/runs", headers=tenant.headers)
        assert run.status_code == 201, run.text
        assert (await http.get(f"{APPS}/{ids[0]}", headers=tenant.headers)).status_code == 200
        clock.advance(2 * 86_400)
        run = await http.post("/v1/jobs/privacy.retention/runs", headers=tenant.headers)
        assert run.status_code == 201, run.text
    assert (await http.get(f"{APPS}/{ids[0]}", headers=tenant.headers)).status_code == 404
    assert (await http.get(f"{APPS}/{ids[1]}", headers=tenant.headers)).status_code == 200
    assert len(list((tmp_path / "resumes").rglob("*.pdf"))) == 1


async def test_a_resume_written_in_a_transaction_that_does_not_commit_is_removed(
    careers_app: FastAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The file is written before the row is committed; if the transaction rolls back
    or is abandoned, the file goes with it, and a committed earlier resume stays."""
    tenant = await make_tenant(careers_app)
    pos = await position(http, tenant)
    made = await http.post(APPS, json=applicant(pos["id"]), headers=tenant.headers)
    assert made.status_code == 201, made.text
    app_id = made.json()["id"]
    folder = tmp_path / "resumes"
    policy = resume_policy(careers_app.state.settings)

    async def upload(content: bytes, *, commit: bool, abandon: bool = False) -> None:
        async with careers_app.state.db.sessionmaker() as session:
            application = await careers_service.get_application(
                session, org_id=tenant.org_id, application_id=app_id
            )
            await careers_service.attach_resume(
                session,
                application=application,
                content=content,
                content_type="application/pdf",
                filename="ada.pdf",
                policy=policy,
            )
            assert len(list(folder.rglob("*.pdf"))) >= 1  # written before the outcome
            if commit:
                await session.commit()
            elif not abandon:
                await session.rollback()
            # abandon: the session closes without committing

    await upload(PDF, commit=False)
    assert list(folder.rglob("*.pdf")) == []
    await upload(PDF, commit=False, abandon=True)
    assert list(folder.rglob("*.pdf")) == []
    await upload(PDF, commit=True)
    kept = list(folder.rglob("*.pdf"))
    assert len(kept) == 1
    # A replacement that rolls back leaves the committed resume in place.
    await upload(PDF + b"v2", commit=False)
    assert list(folder.rglob("*.pdf")) == kept
    download = await http.get(f"{APPS}/{app_id}/resume", headers=tenant.headers)
    assert download.content == PDF
    # The same file uploaded again and rolled back does not take the committed one.
    await upload(PDF, commit=False)
    assert list(folder.rglob("*.pdf")) == kept
