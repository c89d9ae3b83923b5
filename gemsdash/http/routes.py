"""The API's routes: thin adapters over `gemsdash.queue`, the same functions the CLI and TUI call.

Handlers are plain `def`s: the queue API blocks on Redis, so FastAPI runs them in its thread pool
and a slow Redis never stalls the event loop (or the health check beside it).
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

import gemsdash.queue as q
from gemsdash.http.auth import admin_guard, read_guard
from gemsdash.http.errors import ERROR_RESPONSES
from gemsdash.http.models import (
    ClearBody,
    DashboardBody,
    EnqueueBody,
    ErrorBody,
    FieldErrorsBody,
    HealthBody,
    PauseBody,
    QueueStatsBody,
    StatsBody,
    enqueue_request,
    masked,
    throughput,
)
from gemsdash.http.schedule_routes import add_schedule_routes
from gemsdash.http.settings import HttpSettings
from gemsdash.queue.jobs import job_type

TypeParam = Annotated[
    str,
    Path(
        alias="type",
        description="job type (= queue name)",
        json_schema_extra={"enum": [t.value for t in q.JobType]},
    ),
]
IdParam = Annotated[str, Path(alias="id", description="job id")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "unknown job type or job"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {"model": FieldErrorsBody, "description": "invalid request"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorBody, "description": "not allowed in the job's state"}}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: ERROR_RESPONSES[503]}
GUARDED: dict[int | str, dict[str, Any]] = {401: ERROR_RESPONSES[401], 403: ERROR_RESPONSES[403]}
METRICS_TYPES = ("text/plain", "application/openmetrics-text")

#: How many dead jobs the dashboard lists when the caller does not say.
RECENT_FAILURES = 10

#: OpenAPI links from an enqueued job to the routes that take its id (clients and schemathesis'
#: stateful tests follow them).
JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"path.id": "$response.body#/id"}}
    for name, operation in (("GetJob", "get_job"), ("RetryJob", "retry_job"), ("CancelJob", "cancel_job"))
}


def known_type(name: TypeParam) -> None:
    """The old `POST /queue/jobs/{type}` shares its path with `/queue/jobs/{id}`: anything but a
    job type there is a POST to a job, which only GET serves."""
    if name not in q.JobType:
        raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED, "method not allowed", headers={"Allow": "GET"})


def build_routers(settings: HttpSettings, registry: CollectorRegistry) -> list[APIRouter]:
    reads_guarded = settings.protect_reads
    read_errors = {**UNAVAILABLE, **(GUARDED if reads_guarded else {})}
    open_router = APIRouter(tags=["health"])
    reads = APIRouter(
        tags=["reads"],
        dependencies=[Depends(read_guard(settings.admin_token))] if reads_guarded else [],
        responses=read_errors,
    )
    admin = APIRouter(
        tags=["admin"],
        dependencies=[Depends(admin_guard(settings.admin_token))],
        responses={**UNAVAILABLE, **GUARDED},
    )

    @open_router.get(
        "/queue/health",
        response_model=HealthBody,
        responses={503: {"model": HealthBody, "description": "unhealthy; `problems` (and `reasons`) say why"}},
        summary="Health check: 200 healthy, 503 with the reasons otherwise",
    )
    def get_health() -> JSONResponse:
        report = q.health()
        code = status.HTTP_200_OK if report.healthy else status.HTTP_503_SERVICE_UNAVAILABLE
        body = HealthBody.model_validate(report.as_json()).model_dump(mode="json", exclude_none=True)
        return JSONResponse(body, status_code=code)

    @open_router.head(
        "/queue/health",
        response_class=Response,
        responses={200: {"description": "healthy"}, 503: {"description": "unhealthy (GET says why)"}},
        summary="Health check for load balancers: the status of GET without a body",
    )
    def head_health() -> Response:
        healthy = q.health().healthy
        return Response(status_code=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)

    @reads.get(
        "/queue/stats",
        response_model=StatsBody,
        summary="Jobs per queue and state (= `gemsdash stats --json`)",
    )
    def get_stats() -> StatsBody:
        return StatsBody.model_validate(q.stats_json())

    @reads.get(
        "/queue/stats/{type}",
        response_model=QueueStatsBody,
        responses=NOT_FOUND,
        summary="One queue's counts and throughput",
    )
    def get_queue_stats(name: TypeParam) -> QueueStatsBody:
        queue = job_type(name).queue
        snapshot = q.queue_stats()
        document = q.stats_json(snapshot)
        document["queues"] = {queue: document["queues"][queue]}
        return QueueStatsBody(**document, throughput={queue: throughput(snapshot.queues[queue])})

    @reads.get(
        "/queue/dashboard",
        response_model=DashboardBody,
        responses=INVALID,
        summary="Stats, workers, recent failures and throughput in one read",
    )
    def get_dashboard(
        failures: Annotated[int, Query(ge=0, le=100, description="dead jobs to list")] = RECENT_FAILURES,
    ) -> DashboardBody:
        snapshot = q.queue_stats()
        dead: list[q.JobRecord] = []
        if failures:
            for queue in q.QUEUES:
                dead.extend(q.list_jobs(queue, q.JobState.DEAD, limit=failures).jobs)
        dead.sort(key=lambda r: r.finished_at or r.created_at, reverse=True)
        return DashboardBody(
            stats=StatsBody.model_validate(q.stats_json(snapshot)),
            workers=q.workers(),
            recent_failures=[masked(r) for r in dead[:failures]],
            throughput={name: throughput(stats) for name, stats in snapshot.queues.items()},
        )

    @reads.get(
        "/queue/jobs/{id}",
        operation_id="get_job",
        response_model=q.JobRecord,
        responses=NOT_FOUND,
        summary="One job, payload masked",
    )
    def get_job(job_id: IdParam) -> q.JobRecord:
        record = q.get_job(job_id)
        if record is None:
            raise q.JobNotFound(job_id)
        return masked(record)

    @reads.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {t: {"schema": {"type": "string"}} for t in METRICS_TYPES}}},
        summary="Prometheus metrics (text format; OpenMetrics when asked for in Accept)",
    )
    def get_metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    def post_job(body: Any, response: Response) -> q.JobRecord:
        job_id = q.add_job(
            body.type,
            body.payload,
            priority=body.priority,
            delay=body.delay,
            attempts=body.attempts,
            backoff=body.backoff,
        )
        response.headers["Location"] = f"/queue/jobs/{job_id}"
        return _record(job_id)

    # The body's type is built from the job types when the app is built, so it is set here.
    post_job.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[enqueue_request(), Body()]),
            inspect.Parameter("response", inspect.Parameter.KEYWORD_ONLY, annotation=Response),
        ],
        return_annotation=q.JobRecord,
    )
    admin.add_api_route(
        "/queue/jobs",
        post_job,
        methods=["POST"],
        operation_id="enqueue_job",
        response_model=q.JobRecord,
        status_code=status.HTTP_201_CREATED,
        responses={
            201: {"description": "enqueued; `Location` is the job's URL", "links": JOB_LINKS},
            400: {"model": ErrorBody, "description": "body could not be read"},
            **INVALID,
        },
        summary="Enqueue a job: `type` picks the payload's schema (422 names each invalid field)",
    )

    @admin.post(
        "/queue/jobs/{type}",
        include_in_schema=False,
        response_model=q.JobRecord,
        status_code=status.HTTP_201_CREATED,
        dependencies=[Depends(known_type)],
    )
    def post_job_by_type(name: TypeParam, body: EnqueueBody, response: Response) -> q.JobRecord:
        """gemsdash's first enqueue path, kept for the clients written against it (an alias of `POST /queue/jobs`)."""
        job_id = q.add_job(
            name, body.payload, priority=body.priority, delay=body.delay, attempts=body.attempts, backoff=body.backoff
        )
        response.headers["Location"] = f"/queue/jobs/{job_id}"
        return _record(job_id)

    @admin.post(
        "/queue/jobs/{id}/retry",
        operation_id="retry_job",
        response_model=q.JobRecord,
        responses={**NOT_FOUND, **CONFLICT},
        summary="Put a dead or cancelled job back in its queue",
    )
    def post_retry(job_id: IdParam) -> q.JobRecord:
        q.retry(job_id)
        return _record(job_id)

    @admin.post(
        "/queue/jobs/{id}/cancel",
        operation_id="cancel_job",
        response_model=q.JobRecord,
        responses={**NOT_FOUND, **CONFLICT},
        summary="Cancel a queued, delayed or retrying job",
    )
    def post_cancel(job_id: IdParam) -> q.JobRecord:
        q.cancel(job_id)
        return _record(job_id)

    @admin.delete(
        "/queue/clear/{type}",
        response_model=ClearBody,
        responses={**NOT_FOUND, **INVALID},
        summary="Remove a queue's waiting jobs (and its dead ones with include_dead=true)",
    )
    def delete_queue(
        name: TypeParam,
        include_dead: Annotated[bool, Query(description="also delete the queue's dead jobs")] = False,
    ) -> ClearBody:
        result = q.clear(name, include_dead=include_dead)
        return ClearBody(queue=result.queue, removed=result.removed, total=result.total)

    @admin.delete(
        "/queue/jobs/{id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={**NOT_FOUND, **CONFLICT},
        summary="Delete a dead or cancelled job for good",
    )
    def delete_job(job_id: IdParam) -> Response:
        q.delete(job_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @admin.post(
        "/queue/jobs/{id}/run",
        response_model=q.JobRecord,
        responses={**NOT_FOUND, **CONFLICT},
        summary="Run a delayed or retrying job now instead of at its time",
    )
    def post_run_now(job_id: IdParam) -> q.JobRecord:
        return _record(q.run_now(job_id))

    @admin.post(
        "/queue/jobs/{id}/abort",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=q.JobRecord,
        responses={**NOT_FOUND, **CONFLICT},
        summary="Stop a running job: its worker interrupts it within about a second; it ends cancelled",
    )
    def post_abort(job_id: IdParam) -> q.JobRecord:
        return _record(q.abort(job_id))

    @admin.post(
        "/queue/pause/{type}",
        response_model=PauseBody,
        responses={**NOT_FOUND},
        summary="Pause a queue: workers take none of its jobs (any priority) until resumed; enqueue still works",
    )
    def post_pause(name: TypeParam) -> PauseBody:
        changed = q.pause(name)
        return PauseBody(queue=q.JOB_SPECS[q.JobType(name)].job_type.queue, paused=True, changed=changed)

    @admin.post(
        "/queue/resume/{type}",
        response_model=PauseBody,
        responses={**NOT_FOUND},
        summary="Resume a paused queue",
    )
    def post_resume(name: TypeParam) -> PauseBody:
        changed = q.resume(name)
        return PauseBody(queue=q.JOB_SPECS[q.JobType(name)].job_type.queue, paused=False, changed=changed)

    add_schedule_routes(reads, admin)
    return [open_router, reads, admin]


def _record(job_id: str) -> q.JobRecord:
    record = q.get_job(job_id)
    if record is None:
        raise q.JobNotFound(job_id)
    return masked(record)
