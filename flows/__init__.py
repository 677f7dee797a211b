"""Prefect flows (thin): they order stage tasks and pass artifact references between them."""

import spotlab.infra  # noqa: F401  - sets Prefect's quiet defaults before anything imports prefect
