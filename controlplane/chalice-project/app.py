"""Chalice entry point: the app lives in chalice_app/ (packaged through vendor/chalice_app)."""

from chalice_app.runtime import refuse_unsupported_runtime

# Chalice imports this module before it deploys: stop a deploy AWS would refuse (runtime).
refuse_unsupported_runtime()

from chalice_app.app import app, on_execution_status, on_task_finished  # noqa: E402

__all__ = ["app", "on_execution_status", "on_task_finished"]
