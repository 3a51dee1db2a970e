"""Applications the tests serve in real server processes (``tests.apps.<module>:<attr>``)."""
