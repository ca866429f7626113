"""Enroll a compose agent on its own: find or create its device through the API (the admin
token) and write a fresh one-time enrollment token where the agent reads it.

An agent that has enrolled before keeps its stored credential and ignores the new token,
so running this on every ``docker compose up`` is safe.

    python scripts/compose_enroll.py --device compose-cpu --kind cpu --out /enroll/cpu.token
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hwnas import ApiRefused, Client


def enrollment_token(client: Client, device: str, kind: str) -> str:
    try:
        return str(client.devices.create(device, kind)["enrollment"]["token"])
    except ApiRefused as err:
        if err.status != 409:  # 409: the device exists already
            raise
    return str(client.devices.enrollment_token(client.devices.find(device)["id"])["token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", required=True)
    parser.add_argument("--kind", default="cpu", choices=["cpu", "gpu", "phone", "edge"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with Client(retries=10) as client:  # HWNAS_SERVER_URL, HWNAS_API_TOKEN
        token = enrollment_token(client, args.device, args.kind)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    print(f"device {args.device}: enrollment token written to {args.out}")


if __name__ == "__main__":
    main()
