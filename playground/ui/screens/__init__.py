"""Screens pushed over the main view: help, templates, sampling, models."""
