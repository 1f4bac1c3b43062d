"""The Textual app: a thin layer over the engine, templates, sampling and analysis."""
