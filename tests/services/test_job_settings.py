"""Runtime settings are checked per backend against what a job may set (issue 12): paths and
binaries are the agent host's own configuration, so a job naming them is a 422."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

ARCH = " ".join(["k3_e6"] * 21)


def _submit(client: TestClient, device_id: str, backend: str, settings: dict[str, Any]) -> Any:
    return client.post(
        "/v1/jobs",
        json={
            "device_id": device_id,
            "runtime": {"backend": backend, "settings": settings},
            "kind": "network",
            "space_ref": "proxyless-r224-w1-c1000",
            "architecture": ARCH,
        },
    )


def test_settings_outside_the_backends_allow_list_are_422_naming_them(
    client: TestClient,
) -> None:
    """Bob's ``cache_dir`` and Android ``options`` (the binary run on the phone) reached the
    agent verbatim."""
    device_id = client.post("/v1/devices", json={"name": "p", "kind": "phone"}).json()["device"][
        "id"
    ]
    for backend, settings, field in [
        ("ort-cpu", {"cache_dir": "/etc"}, "runtime.settings.cache_dir"),
        (
            "android-adb",
            {"options": {"perf_test": "/system/bin/sh"}},
            "runtime.settings.options.perf_test",
        ),
        (
            "android-adb",
            {"options": {"inprocess_warmup": "5; rm -rf /"}},
            "runtime.settings.options.inprocess_warmup",
        ),
        (
            "ort-cpu",
            {"options": {"inprocess_warmup": "5"}},
            "runtime.settings.options.inprocess_warmup",
        ),
        ("ort-cpu", {"threads": 0}, "runtime.settings.threads"),
        ("ort-cpu", {"precision": "fp64"}, "runtime.settings.precision"),
    ]:
        reply = _submit(client, device_id, backend, settings)
        assert reply.status_code == 422, (settings, reply.text)
        assert reply.json()["details"][0]["field"] == field, reply.text
    assert client.get("/v1/jobs").json() == []
    allowed = _submit(client, device_id, "android-adb", {"options": {"inprocess_warmup": "5"}})
    assert allowed.status_code == 201, allowed.text
    threads = _submit(client, device_id, "ort-cpu", {"threads": 2})
    assert threads.status_code == 201, threads.text
