# spotlab, CPU image: the API, the Prefect worker and the stage jobs all run it (entrypoint `spotlab`).
# Build: docker build -t spotlab:0.1.0 .   (GPU image: Dockerfile.cuda; smoke test: .ci/image-smoke.sh)
# Any Debian-like image with Python 3.11, pip and groupadd/useradd can be the base (e.g. a local mirror's copy).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# Which torch build to install: the CPU wheel index (default) or a CUDA one (see Dockerfile.cuda).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1

# Everything writable lives under /tmp (the pods mount an emptyDir there; the root filesystem is read-only).
# Bytecode is written at build time (pip compiles what it installs; compileall the spotlab package explicitly), so no
# pod recompiles on import. Compiling all of site-packages would fail on files meant for Python >= 3.12.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    PREFECT_HOME=/tmp/prefect \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache

WORKDIR /opt/spotlab
# Dependencies first (torch from the chosen index), so code changes do not reinstall them.
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"
COPY pyproject.toml README.md ./
COPY models/ models/
COPY tasks/ tasks/
COPY infra/ infra/
COPY flows/ flows/
COPY examples/ examples/
# A regular (non-editable) install: the code runs as the spotlab.* packages in site-packages, with the example
# configs as package data; Prefect deployments import their flows by module path, so no sources are needed.
# Every dependency resolves to infra/constraints.txt, the versions the test suite passed with.
RUN pip install --constraint infra/constraints.txt . \
 && python -m compileall -q "$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/spotlab"
# At run time the root filesystem is read-only: never try to write bytecode there.
ENV PYTHONDONTWRITEBYTECODE=1

RUN groupadd --gid 10001 spotlab \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin spotlab
USER 10001:10001
# Commands run from the writable /tmp (the root filesystem is read-only in the chart's pods), not the build folder.
WORKDIR /tmp
ENTRYPOINT ["spotlab"]
CMD ["--help"]
