"""pytest plugin with reference-server and client fixtures (stub: being written)."""
