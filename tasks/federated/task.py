"""Prefect task wrappers of the ``federated`` stage: the stage itself, and one round's client updates as mapped
Prefect tasks (so a distributed task runner can fan them out; the in-process loop gives the same result)."""

from functools import partial

from prefect import task, unmapped
from prefect.cache_policies import NO_CACHE

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.federated import stage
from spotlab.tasks.federated.protocol import ClientJob, Upload


@task(name="federated-client", cache_policy=NO_CACHE)
def client_update_task(update, job: ClientJob) -> Upload:
    return update(job)


def mapped_clients(update, jobs: list[ClientJob]) -> list[Upload]:
    """One round's client updates through ``task.map`` on the flow's task runner, results in job order."""
    return [future.result() for future in client_update_task.map(update=unmapped(update), job=jobs)]


federated_task = stage_task(stage.STAGE, partial(stage.run, map_clients=mapped_clients))
