"""Shared test helpers: run the real CLI entry point and capture what a user would see."""
