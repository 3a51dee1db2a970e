"""Test harness: real server processes (`servers`) and a raw WebSocket client (`wsclient`)."""
