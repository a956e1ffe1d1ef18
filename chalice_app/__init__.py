"""The control plane's Lambda (``chalice_app.app``) and its marker logic (``chalice_app.markers``).

Kept free of imports so that ``chalice_app.markers`` (standard library and boto3 only) can be
used without Chalice installed.
"""
