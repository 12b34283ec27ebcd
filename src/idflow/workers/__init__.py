"""Workers: claim deliveries and start runs."""
