"""Flows: the flow model, its authoring formats and its validation; touches nothing else."""
