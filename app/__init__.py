"""diffapi's web layer: FastAPI routes that validate, call the engine and translate."""

__version__ = "0.1.0"
