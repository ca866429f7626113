"""Profile your own ONNX model on a device with the Python client, end to end.

On the embedded stack (SQLite, local broker, a CPU agent)::

    export HWNAS_ADMIN_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(24))")
    hwnas server &                      # http://127.0.0.1:8000
    hwnas worker &
    hwnas device add local-cpu --kind cpu          # prints the agent's enrollment command
    hwnas-agent run --server http://127.0.0.1:8000 --enroll-token TOKEN --backend ort-cpu &
    hwnas login --server http://127.0.0.1:8000 --token "$HWNAS_ADMIN_TOKEN"
    python examples/profile_model.py model.onnx --device local-cpu

The last line it prints is one JSON object (what ``tests/integration/test_client.py`` reads).
"""

from __future__ import annotations

import argparse
import json

from hwnas import Client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an ONNX file with static input shapes")
    parser.add_argument("--device", required=True, help="the device's name")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    args = parser.parse_args()

    # The server and token: HWNAS_SERVER_URL / HWNAS_API_TOKEN, else what `hwnas login` saved.
    with Client() as client:
        device = client.devices.find(args.device)
        agents = client.devices.agents(device["id"])
        print(f"device {device['name']} ({device['kind']}): {len(agents)} agent(s)")

        job = client.profile(args.model, device=args.device)
        print(f"queued job {job.id}")
        result = job.result(timeout_s=args.timeout)
        print(f"median {result.median_ms:.3f} ms, CV {result.cv:.3f}, verdict {result.verdict}")
        slowest = sorted(result.layers, key=lambda layer: layer["time_ms"], reverse=True)
        for layer in slowest[:5]:
            print(f"  {layer['time_ms']:8.4f} ms  {layer['op_type']:<12} {layer['name']}")

        history = client.measurements.list(
            device_id=device["id"], subject_kind="model", subject=job.job["subject"]
        )
        print(
            json.dumps(
                {
                    "job_id": job.id,
                    "state": job.state,
                    "median_ms": result.median_ms,
                    "cv": result.cv,
                    "verdict": result.verdict,
                    "layers": len(result.layers),
                    "measurements_of_this_model": len(history),
                }
            )
        )


if __name__ == "__main__":
    main()
