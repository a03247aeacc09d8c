"""Monitoring records. Drift and SLO models arrive with their issue; the app is installed now so
that its migrations start from the first release."""
