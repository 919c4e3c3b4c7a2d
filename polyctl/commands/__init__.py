"""Command implementations: parse options, wire spec/state/engine/api, render results."""
