"""Both scenarios in PyTorch, the optional yardstick: one CPU context, eager mode, stock optimizers.

torch is not in requirements.txt: `make setup-peers` installs requirements-peers.txt
(torch==2.13.0, a CPU wheel) into the venv. Importing this package without torch raises
ImportError naming that step.
"""
