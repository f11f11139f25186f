"""Faults a bench run injects: a proxy in front of the backend, and the schedule driving it."""
