"""Lab experiments: AI lab runs (seed 002's LabExperiment) recorded through ``/v1/track/lab``."""
