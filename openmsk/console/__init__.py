"""The web console at /console/ on the endpoint (docs/console.md): server-rendered pages that act only
through the same validate/authorize/handler path as the AWS APIs (api/invoke.py). Kept import-light:
the Kafka worker child process imports `openmsk.console.kafka_worker` and nothing else of it."""


def console_routes(installation, lookup_secret):
    """For `api.gateway.create_app(web_routes=...)`: a function of the gateway's Operations."""
    def build(operations):
        from .web import Console
        return Console(installation, operations, lookup_secret).routes()
    return build
