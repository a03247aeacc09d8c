"""Example external plugin for modelgov (see plugin.py)."""
