"""Example experiment families (import root: the project folder)."""
