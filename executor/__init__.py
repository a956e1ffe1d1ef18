"""Event-driven AWS Batch executor for Covalent (plugin short name ``awsbatch``)."""

# Covalent registers executor plugins while it is imported, by importing them. Importing it
# first means that, when this package is imported before Covalent, the plugin module is loaded
# whole by Covalent rather than found half-initialised.
import covalent.executor  # noqa: F401
