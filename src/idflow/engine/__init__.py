"""The engine: plans flows and runs them, step by step, with a trace."""
