"""How every process meets Temporal: the connection settings (address, namespace, task queue, TLS,
API key) and `connect()` (temporal.py), the payload encryption it installs (codec.py) and the codec
server that lets people read those payloads in the Web UI (codec_server.py), the incident's search
attributes (search_attributes.py), the worker's Worker Deployment version (deployment.py) and its
readiness as the server sees it (health.py), and the logs and metrics of the SDK's runtime
(observability.py). The worker, the receiver and the CLI all import it; it imports none of them, nor
the dev stack. http.py, the body cap the receiver and the codec server share, lives here because the
codec server needs it and must not import the receiver."""
