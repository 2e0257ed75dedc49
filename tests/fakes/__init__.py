"""Test doubles that speak real protocols (HTTPS on 127.0.0.1) to real client libraries."""
