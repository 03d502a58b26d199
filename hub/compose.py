"""The composition root's second half: hub/bootstrap.py builds the parts (database, broker,
keys, mappings) from the settings; this module hands each consumer the parts it uses, by name:
the periodic jobs with their intervals, the status document's sources, the dashboard, and the
routing workers' units of work that wake the outbound dispatch loop. None of them is given the
`Hub` itself.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from hub.broker.partitions import stream_stats
from hub.bootstrap import Hub
from hub.dashboard.app import Dashboard, build_dashboard
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory
from hub.jobs import (
    dossier_erasure, grant_expiry, key_rotation, representative_majority, resume_clock,
    retention, watchdog,
)
from hub.inbound.senders import OPEN_WARNING
from hub.jobs.lease import LeaseLock
from hub.jobs.scheduler import JobScheduler
from hub.ops.status import StatusSources, collect_status


def job_scheduler(hub: Hub) -> JobScheduler:
    """A new, not yet started, scheduler of every periodic job of the scheduler role, each run
    under its lease in `job_locks` so hubs sharing the database never run one twice at once,
    and each once at start too, so a hub that was down catches up at once.

    The intervals come from the settings (`[resume] check_interval`, the `[jobs]` section,
    `[retention] raw_days` and `closed_dossier_years`). Due delivery retries are not here: the sender role's dispatch
    loop finds them (hub/outbound/dispatch_loop.py)."""
    s, j = hub.settings, hub.settings.jobs
    jobs = JobScheduler(lock=LeaseLock(hub.job_store, hub.clock, j.lease).run)
    jobs.add_job(resume_clock.JOB_ID, s.resume.check_interval,
                 partial(resume_clock.flag_overdue_resumes, hub.unit_of_work, hub.clock,
                         s.resume.months, s.resume.update_months), run_at_start=True)
    jobs.add_job(grant_expiry.JOB_ID, j.grant_expiry_interval,
                 partial(grant_expiry.note_expired_grants, hub.job_store, hub.clock),
                 run_at_start=True)
    jobs.add_job(key_rotation.JOB_ID, j.key_rotation_interval,
                 partial(key_rotation.reencrypt_old_rows, hub.key_rotation, hub.keyring,
                         j.key_rotation_batch, j.lease / 2), run_at_start=True)
    jobs.add_job(retention.JOB_ID, j.retention_interval,
                 partial(retention.purge_raw_copies, hub.job_store, hub.clock,
                         s.retention.raw_days), run_at_start=True)
    jobs.add_job(dossier_erasure.JOB_ID, j.retention_interval,
                 partial(dossier_erasure.erase_closed_dossiers, hub.job_store, hub.clock,
                         s.retention.closed_dossier_years), run_at_start=True)
    jobs.add_job(watchdog.JOB_ID, j.watchdog_interval,
                 partial(watchdog.check_queues, hub.job_store, hub.broker, hub.topology,
                         hub.clock, j.watchdog_checks, hub.metrics.queue_stalled),
                 run_at_start=True)
    jobs.add_job(representative_majority.JOB_ID, j.representative_majority_interval,
                 partial(representative_majority.end_parents_at_majority, hub.unit_of_work,
                         hub.clock), run_at_start=True)
    return jobs


def status_sources(hub: Hub) -> StatusSources:
    """What `hub status` and the dashboard read the status document from. The broker is only
    built when the queues are asked for, so a hub that cannot reach it still answers."""
    return StatusSources(
        unit_of_work=hub.unit_of_work, job_store=hub.job_store,
        # The inbound partitions as one stream (hub/broker/partitions.py).
        queue_stats=lambda: stream_stats(hub.broker.queue_stats(), hub.topology),
        inbound_queue=hub.topology.inbound_stream,
        thresholds=hub.settings.status, clock=hub.clock, warnings=hub_warnings(hub),
    )


def hub_warnings(hub: Hub) -> tuple[str, ...]:
    """What `hub status` and the dashboard say beside the health: the open mode (read from the
    setting, not the file: a status is not where a bad senders file is reported)."""
    return () if hub.settings.senders_file.strip() else (OPEN_WARNING,)


def dashboard(hub: Hub, stop: threading.Event) -> Dashboard | None:
    """The dashboard with its sampler running until `stop` (None when it is switched off)."""
    return build_dashboard(hub.settings.dashboard, hub.settings.http, hub.unit_of_work,
                           partial(collect_status, status_sources(hub)), stop)


def waking(unit_of_work: UnitOfWorkFactory, wake: Callable[[], None]) -> UnitOfWorkFactory:
    """`unit_of_work` whose every unit calls `wake()` once it ended without an error: what a
    routing worker filed (new deliveries among it) is then looked at by the dispatch loop at
    once, not at its next interval."""
    @contextmanager
    def unit() -> Iterator[UnitOfWork]:
        with unit_of_work() as uow:
            yield uow
        wake()
    return unit
