# The wasim image: `wasim` is the entry point, so `docker run IMAGE bench ci-smoke --url ...`.
#   docker build -t wasim:0.1.0 .
# deploy/kubernetes/ runs it as an Indexed Job (docs/distributed.md).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the wheel is built from (see .dockerignore): the package, the bundled backend,
# the scenarios it embeds, and the metadata.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY wasim ./wasim
COPY mock_backend ./mock_backend
COPY scenarios ./scenarios
# With the otlp extra: a pod can push its live metrics to a collector (--otlp-endpoint).
RUN pip install '.[otlp]' && rm -rf /src

# Not root; uid 10001 is what the Kubernetes manifests' fsGroup and runAsUser name.
RUN useradd --create-home --uid 10001 wasim
USER 10001
WORKDIR /home/wasim

# 9464: --metrics-port in deploy/kubernetes/; 8000: `wasim serve --host 0.0.0.0`.
EXPOSE 9464 8000
ENTRYPOINT ["wasim"]
CMD ["--help"]
