#!/bin/sh
# Runs the docs/embedding.md example; it exits non-zero if anything failed.
exec "$1"
