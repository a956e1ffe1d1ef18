"""Chalice entry point: the app lives in chalice_app/ (packaged through vendor/chalice_app)."""

from chalice_app.app import app, on_execution_status, on_task_finished

__all__ = ["app", "on_execution_status", "on_task_finished"]
