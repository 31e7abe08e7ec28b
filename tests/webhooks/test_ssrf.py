"""The SSRF guard: refused URLs and addresses, and connections only to checked addresses
(DNS rebinding), with the Host header and TLS name of the URL kept."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from fastapi import FastAPI

from commbase.webhooks.dispatcher import Dispatcher
from commbase.webhooks.ssrf import UnsafeUrl, address_refusal, parse
from tests.conftest import client_for
from tests.identity.factories import Tenant, make_tenant
from tests.webhooks.conftest import use_dns
from tests.webhooks.network import FakeDns, RecordingBackend, raw_server, trickle
from tests.webhooks.receiver import Receiver, running_receiver

PUBLIC = "93.184.216.34"
NON_PUBLIC = "a non-public address"
LINK_LOCAL = "a link-local or cloud metadata address"


@pytest.mark.parametrize(
    ("address", "strict", "development"),
    [
        (PUBLIC, None, None),
        ("2606:4700::1111", None, None),
        ("127.0.0.1", NON_PUBLIC, None),
        ("10.0.0.5", NON_PUBLIC, None),
        ("100.64.0.1", NON_PUBLIC, None),  # shared (carrier-grade NAT)
        ("::1", NON_PUBLIC, None),
        ("fd12::1", NON_PUBLIC, None),
        ("169.254.169.254", LINK_LOCAL, LINK_LOCAL),
        ("169.254.10.1", LINK_LOCAL, LINK_LOCAL),
        ("fe80::1", LINK_LOCAL, LINK_LOCAL),
        ("fd00:ec2::254", LINK_LOCAL, LINK_LOCAL),  # AWS metadata over IPv6
        ("100.100.100.200", LINK_LOCAL, LINK_LOCAL),  # Alibaba metadata
        ("168.63.129.16", LINK_LOCAL, LINK_LOCAL),  # Azure platform address
        ("0.0.0.0", "not a unicast address", "not a unicast address"),  # noqa: S104
        ("224.0.0.1", "not a unicast address", "not a unicast address"),
        # IPv6 forms carrying IPv4: judged by what they carry.
        ("::ffff:127.0.0.1", NON_PUBLIC, None),
        ("::ffff:169.254.169.254", LINK_LOCAL, LINK_LOCAL),
        ("::127.0.0.1", NON_PUBLIC, None),  # IPv4-compatible
        ("2002:7f00:1::1", NON_PUBLIC, None),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", LINK_LOCAL, LINK_LOCAL),  # 6to4 of 169.254.169.254
        ("2002:5db8:d822::1", None, None),  # 6to4 of a public address
        ("2001:0:5db8:d822:0:0:80ff:fffe", NON_PUBLIC, None),  # Teredo, client 127.0.0.1
        ("2001:0:5db8:d822:0:0:5601:5601", LINK_LOCAL, LINK_LOCAL),  # client 169.254.169.254
        ("64:ff9b::7f00:1", NON_PUBLIC, None),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", LINK_LOCAL, LINK_LOCAL),  # NAT64 of 169.254.169.254
        ("64:ff9b::5db8:d822", None, None),  # NAT64 of a public address
    ],
)
def test_which_addresses_are_refused(
    address: str, strict: str | None, development: str | None
) -> None:
    assert address_refusal(address, allow_private=False) == strict
    assert address_refusal(address, allow_private=True) == development


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.216.34/hook", "only http and https"),
        ("https://user:pass@93.184.216.34/hook", "credentials"),
        ("https://user@93.184.216.34/hook", "credentials"),
        ("http://[::1]:99999/hook", "port must be 1 to 65535"),
        ("http://93.184.216.34:0/hook", "port must be 1 to 65535"),
        ("http://93.184.216.34:80abc/hook", "not a valid URL"),
        ("http://[fe80::1%25eth0]/hook", "zone identifiers"),
        ("http://2130706433/hook", "four decimal numbers"),
        ("http://0x7f.1/hook", "four decimal numbers"),
        ("http://127.1/hook", "four decimal numbers"),
        ("http://exa mple.com/hook", "not a valid name"),
        ("http://a..b/hook", "not a valid name"),
        ("http://-a.example.com/hook", "not a valid name"),
        ("http://\U0001f600.com/hook", "not a valid URL"),
        ("http:///hook", "no host"),
    ],
)
def test_malformed_urls_are_refused_before_any_lookup(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        parse(url)
    assert reason in refused.value.detail


def test_international_names_are_sent_in_ascii() -> None:
    assert parse("https://bücher.example/hooks").host == "xn--bcher-kva.example"
    assert parse("https://Hooks.Example.COM./x").host == "hooks.example.com"
    assert parse("http://[2606:4700:0::1111]:8080/").port == 8080


async def endpoint_via_api(app: FastAPI, tenant: Tenant, url: str) -> dict[str, Any]:
    async with client_for(app) as client:
        created = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.headers)
        assert created.status_code == 201, created.text
        endpoint: dict[str, Any] = created.json()
        ping = await client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=tenant.headers)
        assert ping.status_code == 202
        return endpoint


async def last_attempt(app: FastAPI, tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    async with client_for(app) as client:
        base = f"/v1/webhooks/{endpoint_id}/deliveries"
        [delivery] = (await client.get(base, headers=tenant.headers)).json()["data"]
        detail = await client.get(f"{base}/{delivery['id']}", headers=tenant.headers)
        attempt: dict[str, Any] = detail.json()["attempt_log"][-1]
        return attempt


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://172.16.0.1/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[2002:7f00:1::1]/hook",
        "http://[2002:a9fe:a9fe::1]/hook",
        "http://[2001:0:5db8:d822:0:0:80ff:fffe]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[::127.0.0.1]/hook",
        "http://metadata.google.internal/computeMetadata",
        "http://printer.local/hook",
        "http://api.localhost/hook",
        "ftp://93.184.216.34/hook",
        "https://user:pass@93.184.216.34/hook",
        "http://2130706433/hook",
        "http://93.184.216.34:65536/hook",
        "http://[fe80::1%25eth0]/hook",
        "https://\U0001f600.example/hook",
        "https://unresolvable.example.invalid/hook",
    ],
)
async def test_internal_urls_are_refused(strict_app: FastAPI, url: str) -> None:
    tenant = await make_tenant(strict_app)
    async with client_for(strict_app) as client:
        response = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "url"
        listed = await client.get("/v1/webhooks", headers=tenant.headers)
        assert listed.json()["data"] == []


async def test_a_name_with_one_private_answer_is_refused(strict_app: FastAPI) -> None:
    """Every address is checked, not only the first."""
    dns = FakeDns({"hooks.example.com": [[PUBLIC, "127.0.0.1"]]})
    use_dns(strict_app, dns)
    tenant = await make_tenant(strict_app)
    async with client_for(strict_app) as client:
        response = await client.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/x"}, headers=tenant.headers
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        "hooks.example.com resolves to a non-public address (127.0.0.1)"
    )
    assert dns.lookups == ["hooks.example.com"]


async def test_a_rebinding_name_never_gets_a_connection_to_localhost(strict_app: FastAPI) -> None:
    """The name answers a public address when the endpoint is saved and 127.0.0.1 at
    send time: the dispatcher refuses before opening any socket, and nothing of a local
    service reaches the attempt log."""
    with raw_server(trickle([b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"], 0)) as local:
        dns = FakeDns({"rebind.example.com": [[PUBLIC], ["127.0.0.1"]]})
        use_dns(strict_app, dns)
        tenant = await make_tenant(strict_app)
        endpoint = await endpoint_via_api(
            strict_app, tenant, f"http://rebind.example.com:{local.port}/hooks"
        )
        sockets = RecordingBackend()
        worker = Dispatcher(
            strict_app.state.db,
            strict_app.state.settings,
            worker_id="strict",
            resolver=dns,
            network_backend=sockets,
        )
        try:
            assert await worker.send_due() == 1
        finally:
            await worker.close()
        assert dns.lookups == ["rebind.example.com", "rebind.example.com"]
        assert sockets.connections == []
        assert local.accepted == 0
        attempt = await last_attempt(strict_app, tenant, endpoint["id"])
        assert attempt["outcome"] == "refused"
        assert attempt["response_status"] is None
        assert attempt["response_body"] is None
        assert (
            "rebind.example.com resolves to a non-public address (127.0.0.1)" in (attempt["error"])
        )


async def test_development_flag_still_refuses_link_local_and_metadata(
    app: FastAPI, dns: FakeDns
) -> None:
    """``COMMBASE_WEBHOOKS_ALLOW_PRIVATE_URLS`` opens 127.0.0.1, never the metadata service."""
    assert app.state.settings.webhooks_allow_private_urls
    dns.script["meta.example.com"] = [["169.254.169.254"]]
    use_dns(app, dns)
    tenant = await make_tenant(app)
    async with client_for(app) as client:
        for url in (
            "http://169.254.169.254/latest/meta-data",
            "http://169.254.170.2/v2/credentials",
            "http://[fe80::1]/hook",
            "http://[fd00:ec2::254]/latest",
            "http://100.100.100.200/latest",
            "http://[::ffff:169.254.169.254]/hook",
            "http://[2002:a9fe:a9fe::1]/hook",
            "http://[64:ff9b::a9fe:a9fe]/hook",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://metadata/computeMetadata/v1/",
            "http://meta.example.com/latest",
        ):
            response = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.headers)
            assert response.status_code == 422, url
        assert (await client.get("/v1/webhooks", headers=tenant.headers)).json()["data"] == []


async def test_development_flag_refuses_a_name_rebinding_to_metadata_at_send(
    app: FastAPI, receiver: Receiver
) -> None:
    dns = FakeDns({"hooks.example.com": [["127.0.0.1"], ["169.254.169.254"]]})
    use_dns(app, dns)
    tenant = await make_tenant(app)
    endpoint = await endpoint_via_api(app, tenant, receiver.url_for("hooks.example.com"))
    sockets = RecordingBackend()
    worker = Dispatcher(app.state.db, app.state.settings, resolver=dns, network_backend=sockets)
    try:
        await worker.send_due()
    finally:
        await worker.close()
    assert sockets.connections == []
    assert receiver.received == []
    attempt = await last_attempt(app, tenant, endpoint["id"])
    assert attempt["outcome"] == "refused"
    assert "link-local or cloud metadata" in attempt["error"]


async def test_the_connection_goes_to_the_checked_address_with_the_urls_host(
    app: FastAPI, receiver: Receiver
) -> None:
    """The name is resolved by the guard only (the system cannot resolve it), the socket
    opens to the address it answered, and the request still names the URL's host."""
    dns = FakeDns({"hooks.example.test": [["127.0.0.1"]]})
    use_dns(app, dns)
    tenant = await make_tenant(app)
    await endpoint_via_api(app, tenant, receiver.url_for("hooks.example.test"))
    sockets = RecordingBackend()
    worker = Dispatcher(app.state.db, app.state.settings, resolver=dns, network_backend=sockets)
    try:
        assert await worker.send_due() == 1
    finally:
        await worker.close()
    assert sockets.connections == [("127.0.0.1", receiver.port)]
    [got] = receiver.received
    assert got.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert got.event_type == "webhook.test"


@pytest.fixture
def certificate_authority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A private CA the dispatcher trusts (through ``SSL_CERT_FILE``, as operators would)."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return ca


async def test_tls_names_and_verifies_the_urls_host_not_the_address(
    app: FastAPI, certificate_authority: trustme.CA
) -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("hooks.example.test").configure_cert(server_tls)
    with running_receiver(tls=server_tls) as secure:
        dns = FakeDns(
            {"hooks.example.test": [["127.0.0.1"]], "impostor.example.test": [["127.0.0.1"]]}
        )
        use_dns(app, dns)
        tenant = await make_tenant(app)
        good = await endpoint_via_api(app, tenant, secure.url_for("hooks.example.test", "https"))
        wrong = await endpoint_via_api(
            app, tenant, secure.url_for("impostor.example.test", "https")
        )
        worker = Dispatcher(app.state.db, app.state.settings, resolver=dns)
        try:
            assert await worker.send_due() == 2
        finally:
            await worker.close()
        assert "hooks.example.test" in secure.server_names
        assert "impostor.example.test" in secure.server_names
        [got] = secure.received
        assert got.headers["host"] == f"hooks.example.test:{secure.port}"
        assert (await last_attempt(app, tenant, good["id"]))["outcome"] == "succeeded"
        refused = await last_attempt(app, tenant, wrong["id"])
        assert refused["outcome"] == "connection_error"
        assert "CERTIFICATE_VERIFY_FAILED" in refused["error"]


async def test_proxies_from_the_environment_are_not_used(
    app: FastAPI, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would resolve the name itself, past the guard."""
    with raw_server(trickle([], 0)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        tenant = await make_tenant(app)
        await endpoint_via_api(app, tenant, receiver.url)
        worker = Dispatcher(app.state.db, app.state.settings)
        try:
            await worker.send_due()
        finally:
            await worker.close()
        assert proxy.accepted == 0
        assert len(receiver.received) == 1
