# spotlab, CPU image: the API, the Prefect worker and the stage jobs all run it (entrypoint `spotlab`).
# Build: docker build -t spotlab:0.1.0 .   (GPU image: Dockerfile.cuda)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# Which torch build to install: the CPU wheel index (default) or a CUDA one (see Dockerfile.cuda).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1

# Everything writable lives under /tmp (the pods mount an emptyDir there; the root filesystem is read-only).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
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
RUN pip install .
# Sources stay in /opt/spotlab: Prefect deployments load flows/*.py from here (prefect.yaml's pull step).
COPY examples/ examples/
COPY prefect.yaml ./

RUN groupadd --gid 10001 spotlab \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin spotlab
USER 10001:10001
ENTRYPOINT ["spotlab"]
CMD ["--help"]
