"""The schedules' routes: reads beside the other reads, changes behind the admin token.

Thin adapters over `gemsdash.queue`'s schedule functions, as the CLI's `gemsdash schedule ...`;
payloads are masked as job payloads are.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

import gemsdash.queue as q
from gemsdash.http.models import ErrorBody, FieldErrorsBody
from gemsdash.queue.schedules import MAX_CATCH_UP

NameParam = Annotated[str, Path(alias="name", description="schedule name")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "no such schedule"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {"model": FieldErrorsBody, "description": "invalid schedule"}}


class ScheduleBody(BaseModel):
    """Exactly one of `cron` and `every`; options left out take the job type's defaults."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1-100 characters: letters, digits and _ . : @ -")
    type: q.JobType
    payload: dict[str, Any] = Field(description="the job type's payload object, validated as for enqueue")
    cron: str | None = Field(default=None, description='five fields, e.g. "0 8 * * *", in `timezone`')
    every: str | None = Field(default=None, description="an interval: 30s, 5m, 1h, 1h30m, 1d")
    timezone: str = Field(default="UTC", description="IANA timezone of the cron rule")
    catch_up: int = Field(default=0, ge=0, le=MAX_CATCH_UP, description="missed ticks fired after downtime")
    priority: q.Priority | None = None
    attempts: int | None = Field(default=None, description="total tries, the first included")
    backoff: q.Backoff | None = None


class RunBody(BaseModel):
    name: str
    id: str = Field(description="the job enqueued")


def shown(schedule: q.Schedule) -> q.Schedule:
    return schedule.model_copy(update={"payload": q.mask_payload(schedule.payload)})


def add_schedule_routes(reads: APIRouter, admin: APIRouter) -> None:
    @reads.get("/queue/schedules", response_model=list[q.Schedule], summary="Every schedule, payloads masked")
    def get_schedules() -> list[q.Schedule]:
        return [shown(s) for s in q.list_schedules()]

    @reads.get("/queue/schedules/{name}", response_model=q.Schedule, responses=NOT_FOUND, summary="One schedule")
    def get_schedule(name: NameParam) -> q.Schedule:
        return shown(q.get_schedule(name))

    @admin.post(
        "/queue/schedules",
        response_model=q.Schedule,
        status_code=status.HTTP_201_CREATED,
        responses={
            400: {"model": ErrorBody, "description": "body could not be read"},
            409: {"model": ErrorBody, "description": "a schedule of that name exists"},
            **INVALID,
        },
        summary="Add a schedule (422 names each invalid field of the payload)",
    )
    def post_schedule(body: ScheduleBody, response: Response) -> q.Schedule:
        schedule = q.add_schedule(
            body.name,
            body.type,
            body.payload,
            cron=body.cron,
            every=body.every,
            timezone=body.timezone,
            priority=body.priority,
            attempts=body.attempts,
            backoff=body.backoff,
            catch_up=body.catch_up,
        )
        response.headers["Location"] = f"/queue/schedules/{schedule.name}"
        return shown(schedule)

    @admin.delete(
        "/queue/schedules/{name}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=NOT_FOUND,
        summary="Remove a schedule (jobs it enqueued stay)",
    )
    def delete_schedule(name: NameParam) -> Response:
        q.remove_schedule(name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @admin.post("/queue/schedules/{name}/pause", response_model=q.Schedule, responses=NOT_FOUND, summary="Stop firing")
    def post_pause(name: NameParam) -> q.Schedule:
        return shown(q.pause_schedule(name))

    @admin.post(
        "/queue/schedules/{name}/resume",
        response_model=q.Schedule,
        responses=NOT_FOUND,
        summary="Fire again from the next tick",
    )
    def post_resume(name: NameParam) -> q.Schedule:
        return shown(q.resume_schedule(name))

    @admin.post(
        "/queue/schedules/{name}/run",
        response_model=RunBody,
        status_code=status.HTTP_201_CREATED,
        responses=NOT_FOUND,
        summary="Enqueue the schedule's job now",
    )
    def post_run(name: NameParam, response: Response) -> RunBody:
        job_id = q.run_schedule(name)
        response.headers["Location"] = f"/queue/jobs/{job_id}"
        return RunBody(name=name, id=job_id)
