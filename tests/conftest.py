"""Shared fixtures: a real S3 endpoint (moto's HTTP server on 127.0.0.1) and a Prefect test API."""

from __future__ import annotations

import os
import re
import socket

import pytest

import spotlab.infra  # noqa: F401  - quiet Prefect defaults before anything imports prefect
import prefect  # noqa: F401,E402  - configure Prefect's log handlers on the real streams, not a CliRunner's

# The suite must be deterministic and single-threaded enough to share 2 cores with itself.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """Endpoint URL of a moto S3 server speaking real HTTP on 127.0.0.1 (boto3 is never patched in-process)."""
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[key] = value
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket on the moto server; yields ``s3://<bucket>/prefix``."""
    import boto3

    name = ("spotlab-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()))[:60].strip("-")
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return f"s3://{name}/prefix"


@pytest.fixture(scope="session")
def prefect_api():
    """One Prefect test API for the session (flows run for real against it)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
