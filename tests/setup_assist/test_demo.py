"""`lifecycles demo setup-assist` on the time-skipping server: both projects close."""

from __future__ import annotations

from pathlib import Path

from scripts.setup_assist_demo import run_demo, skip
from tests.setup_assist.conftest import SetupAssistWorld


async def test_demo_runs_an_express_and_a_standard_project_to_close(
    sa: SetupAssistWorld, tmp_path: Path
) -> None:
    lines: list[str] = []
    finals = await run_demo(
        sa.env.client,
        sa.db,
        sa.settings,
        task_queue=sa.task_queue,
        sleep=skip(sa.env.sleep),
        echo=lines.append,
        out=tmp_path,
    )
    assert [(f.flow, f.state) for f in finals] == [("express", "closed"), ("standard", "closed")]
    assert finals[1].info_requests[0].escalated_at is not None
    assert finals[0].phases[1].tasks[0].call_minutes == 45
    assert len(list(tmp_path.glob("*.png"))) == 2
    kinds = {n.kind for n in await sa.notices("setup_assist_end_of_migration")}
    assert kinds == {"setup_assist_end_of_migration"}
    assert any("escalated" in line for line in lines)
