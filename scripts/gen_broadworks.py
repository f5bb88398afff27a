"""Write a BroadWorks export (models/migration/export.py) of any size, for tests and the
benchmark: deterministic for a seed, valid E.164 numbers (+1 408 2xx xxxx, up to 800,000),
one desk phone for most users and a UC-One client for many.

    python -m scripts.gen_broadworks --users 10000 --out /tmp/ent.json [--enterprise ent-big]
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import typer

PACKAGES = ("webex_calling", "webex_calling", "webex_calling", "webex_suite", "webex_voice")
MODELS = ("Cisco 8851", "Cisco 8845", "Polycom VVX 411", "Yealink T54W")
FIRST = "Ann Ben Chloe Dan Eva Finn Gina Hugo Ines Jon Kim Liam Mia Noah Olga Paul".split()
LAST = "Lee Ng Park Diaz Berg Costa Haas Ito Khan Lund Moss Nash Ortiz Pratt Quinn Roy".split()


def number(i: int) -> str:
    """The i-th number of the generator's range: +1 408 2xx xxxx."""
    return f"+1408{2000000 + i:07d}"


def mac(i: int) -> str:
    h = f"{0x001B54000000 + i:012X}"
    return ":".join(h[k : k + 2] for k in range(0, 12, 2))


def generate(
    users: int,
    *,
    enterprise: str = "ent-big",
    domain: str | None = None,
    locations: int = 2,
    seed: int = 7,
    number_offset: int = 0,
) -> dict[str, Any]:
    rnd = random.Random(seed)
    domain = domain or f"{enterprise}.example"
    locs = [
        {
            "id": f"site-{k + 1}",
            "name": f"Site {k + 1}",
            "country": "US",
            "timezone": "America/Los_Angeles",
            "address": {"line1": f"{100 + k} Main St", "city": "San Jose", "state": "CA"},
        }
        for k in range(locations)
    ]
    out_users, devices, clients = [], [], []
    for i in range(users):
        uid = f"u{i + 1:06d}"
        package = rnd.choice(PACKAGES)
        out_users.append(
            {
                "id": uid,
                "first_name": rnd.choice(FIRST),
                "last_name": rnd.choice(LAST),
                "email": f"{uid}@{domain}",
                "package": package,
                "extension": f"{10000 + i}",
                "number": number(number_offset + i),
                "location_id": locs[i % locations]["id"],
            }
        )
        if rnd.random() < 0.8:
            devices.append(
                {"model": rnd.choice(MODELS), "mac": mac(number_offset + i), "owner": uid}
            )
        if rnd.random() < 0.6:
            clients.append({"owner": uid, "client": "uc_one", "platform": "desktop"})
    main = [
        {"number": number(number_offset + users + k), "location_id": loc["id"]}
        for k, loc in enumerate(locs)
    ]
    return {
        "format": "broadworks-export/1",
        "exported_at": "2026-03-01T09:00:00Z",
        "service_provider_id": "sp-telco",
        "enterprise": {
            "id": enterprise,
            "name": f"{enterprise.replace('-', ' ').title()} Inc",
            "country": "US",
            "language": "en",
            "admin_email": f"it@{domain}",
            "address": {"line1": "100 Main St", "city": "San Jose", "state": "CA"},
        },
        "locations": locs,
        "numbers": main
        + [{"number": u["number"], "location_id": u["location_id"]} for u in out_users],
        "users": out_users,
        "devices": devices,
        "soft_clients": clients,
    }


def main(
    users: int = typer.Option(1000, "--users", min=1, max=20000),
    out: Path = typer.Option(..., "--out"),
    enterprise: str = typer.Option("ent-big", "--enterprise"),
    seed: int = typer.Option(7, "--seed"),
) -> None:
    out.write_text(json.dumps(generate(users, enterprise=enterprise, seed=seed), indent=1))
    typer.echo(f"{out}: {users} users")


if __name__ == "__main__":  # pragma: no cover
    typer.run(main)
