# signfed: one image for the parameter server and the clients (entry point `signfed`).
#
#   docker build -t signfed .                                  # python:3.11-slim + PyPI
#   docker build --network host -t signfed \
#       --build-arg BASE_IMAGE=signfed-base:bookworm \
#       --build-arg WHEELHOUSE=.whl .                          # air-gapped: no network at all
#
# BASE_IMAGE needs python3 (3.11) with venv; WHEELHOUSE is a folder inside the build
# context made by docker/wheelhouse.sh. TORCH_INDEX_URL, when set, is the index torch
# comes from (PyTorch's CPU-only index keeps the image small); a wheelhouse wins over it.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=docker/no-wheelhouse
ARG TORCH_INDEX_URL=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
# Dependencies first, in their own layers: editing the code does not reinstall torch.
COPY pyproject.toml constraints.txt docker/install.sh /tmp/build/
COPY ${WHEELHOUSE} /tmp/wheels/
RUN TORCH_INDEX_URL="${TORCH_INDEX_URL}" sh /tmp/build/install.sh
COPY . /tmp/src/
RUN /opt/signfed/bin/pip install --no-deps --no-build-isolation /tmp/src \
    && /opt/signfed/bin/signfed --help > /dev/null

# The runtime stage copies the venv alone: no wheelhouse, no build files. The venv comes
# last: on storage drivers that copy whole layers (vfs), every instruction after a large
# layer costs a copy of it.
FROM ${BASE_IMAGE}
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/signfed signfed \
    && mkdir -p /data /runs \
    && chown signfed:signfed /data /runs
ENV PATH=/opt/signfed/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    SIGNFED_DATA_DIR=/data
WORKDIR /home/signfed
ENTRYPOINT ["signfed"]
CMD ["--help"]
USER signfed
COPY --from=build /opt/signfed /opt/signfed
