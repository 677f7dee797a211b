"""Infrastructure: configs, artifact store, settings, CLI, REST API, Kubernetes."""

from spotlab.infra.settings import quiet_prefect

quiet_prefect()
