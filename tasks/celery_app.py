"""The Celery app factory: every broker and worker setting greenbar relies on."""

from celery import Celery
from kombu.entity import Queue

from app.config import Settings
from app.jobs.queues import BUILD_TASK, ROUTES, RUN_QUEUE, worker_queues
from tasks.schedule import beat_schedule

# Celery's own limits sit above the longest run: the runner enforces max_seconds itself, and
# these only catch a worker stuck for another reason.
SOFT_LIMIT_MARGIN_SECONDS = 30
HARD_LIMIT_MARGIN_SECONDS = 60


def create_celery(settings: Settings) -> Celery:
    """A Celery app for `settings`; connects to nothing until used.

    Runs travel as ids: the files stay in greenbar's run record in Redis (up to
    files_max_kib each), so broker messages stay small and a run's payload expires with it.
    """
    modules = ["tasks.runs", "tasks.pulls", "tasks.prunes", "tasks.builds"]
    celery = Celery(
        "greenbar", broker=settings.redis_url, backend=settings.redis_url, include=modules
    )
    hard_limit = settings.max_seconds_limit + HARD_LIMIT_MARGIN_SECONDS
    if settings.visibility_timeout_seconds <= hard_limit:
        raise ValueError("visibility_timeout_seconds must exceed the hard time limit")
    celery.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_routes=ROUTES,
        task_default_queue=RUN_QUEUE,
        task_queues=[
            Queue(q) for q in worker_queues(settings.node, settings.tracks, settings.builder)
        ],
        beat_schedule=beat_schedule(settings),
        worker_prefetch_multiplier=1,
        task_acks_late=True,  # a run whose worker dies is redelivered, not lost
        task_reject_on_worker_lost=True,
        task_soft_time_limit=settings.max_seconds_limit + SOFT_LIMIT_MARGIN_SECONDS,
        task_time_limit=hard_limit,
        # A build runs for up to build_seconds (its own deadline), then is told to stop.
        task_annotations={
            BUILD_TASK: {
                "soft_time_limit": settings.build_seconds + SOFT_LIMIT_MARGIN_SECONDS,
                "time_limit": settings.build_seconds + HARD_LIMIT_MARGIN_SECONDS,
            }
        },
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
        result_backend_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds
        },
        result_expires=settings.result_ttl_seconds,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        broker_connection_retry_on_startup=True,
        worker_concurrency=settings.worker_concurrency,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
    )
    # Never the Settings object: Celery's configuration is what a worker reports to Flower
    # (and to `celery inspect conf`), and Settings holds the tokens and the Redis URL.
    return celery
