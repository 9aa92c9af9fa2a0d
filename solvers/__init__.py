"""Optimisation only: the fleet MILP and the offloading placement LP. The only package that imports PuLP."""
