"""The model inventory: registered models and their versions."""
