"""The beat schedule: pull every allowlisted image onto every node, and prune every node.

Run one `celery -A tasks.worker beat`. A second one is harmless: each fan-out claims its
period in Redis first (app.cluster.periodic), so the work is done once per period.
"""

from typing import Any

from app.config import Settings
from app.jobs.queues import SCHEDULE_PRUNES_TASK, SCHEDULE_PULLS_TASK


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "pull-images": {
            "task": SCHEDULE_PULLS_TASK,
            "schedule": settings.pull_interval_minutes * 60,
        },
        "prune-nodes": {
            "task": SCHEDULE_PRUNES_TASK,
            "schedule": settings.prune_interval_minutes * 60,
        },
    }
