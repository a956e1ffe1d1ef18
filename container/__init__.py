"""Code that runs inside the Batch job's container (the runtime image's entry point)."""
