# The app image: the worker and the webhook receiver (one image, two commands). The policy is not
# in it: docker-compose.yml and deploy/kubernetes/ mount it (IRP_POLICY_FILE), so a roster change
# needs a restart, not a rebuild. Only the product is copied: no sandbox/, devstack/ (the dev server,
# `make up`, the demo), tests/ or benchmarks/ (tests/test_rooms.py).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY plan plan
COPY workflows workflows
COPY activities activities
COPY webhook webhook
COPY connection connection
COPY incident_client incident_client
COPY cli cli
COPY reporting reporting
COPY scripts scripts
COPY docs/incident-response docs/incident-response
COPY worker.py starter.py ./
RUN pip install --no-cache-dir .
# The Worker Deployment build id (connection/deployment.py), one per image: `docker build --build-arg
# BUILD_ID=$(git rev-parse --short=12 HEAD) .` (compose: `IRP_BUILD_ID=… docker compose build`).
ARG BUILD_ID
RUN test -n "$BUILD_ID" || { echo "build with --build-arg BUILD_ID=<commit>: the build id names this code" >&2; exit 1; } \
    && echo "$BUILD_ID" > BUILD_ID
USER nobody
EXPOSE 8000 9464
CMD ["python", "worker.py"]
