"""Seeding and cleanup: ``seed.yaml`` tasks, the pyramid walk, workers, progress
and resume. The command line is ``tileproxy.cli.seed``."""
