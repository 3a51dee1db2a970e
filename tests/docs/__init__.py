"""Tests that run the README's examples exactly as printed."""
