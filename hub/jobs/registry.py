"""Every periodic job of the scheduler role, registered in this one place with its interval
from the settings (`[resume] check_interval`, the `[jobs]` section, `[retention] raw_days`).

Due delivery retries are not here: hub/outbound/dispatcher.py runs them on the sender role's
own interval (`[outbound] interval`)."""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from hub.jobs import grant_expiry, key_rotation, resume_clock, retention, watchdog
from hub.jobs.scheduler import JobScheduler

if TYPE_CHECKING:
    from hub.bootstrap import Hub


def register_jobs(jobs: JobScheduler, hub: Hub) -> JobScheduler:
    """Add the hub's periodic jobs to `jobs`; return it. Each runs once at start too, so a hub
    that was down catches up at once."""
    s, j = hub.settings, hub.settings.jobs
    jobs.add_job(resume_clock.JOB_ID, s.resume.check_interval,
                 partial(resume_clock.flag_overdue_resumes, hub.unit_of_work, hub.clock,
                         s.resume.months), run_at_start=True)
    jobs.add_job(grant_expiry.JOB_ID, j.grant_expiry_interval,
                 partial(grant_expiry.note_expired_grants, hub.job_store, hub.clock),
                 run_at_start=True)
    jobs.add_job(key_rotation.JOB_ID, j.key_rotation_interval,
                 partial(key_rotation.reencrypt_old_rows, hub.key_rotation, hub.keyring,
                         j.key_rotation_batch, j.lease / 2), run_at_start=True)
    jobs.add_job(retention.JOB_ID, j.retention_interval,
                 partial(retention.purge_raw_copies, hub.job_store, hub.clock,
                         s.retention.raw_days), run_at_start=True)
    jobs.add_job(watchdog.JOB_ID, j.watchdog_interval,
                 partial(watchdog.check_queues, hub.job_store, hub.broker, hub.topology,
                         hub.clock, j.watchdog_checks, hub.metrics.queue_stalled),
                 run_at_start=True)
    return jobs
