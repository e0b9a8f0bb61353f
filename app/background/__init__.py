"""Long-running loops beside the API: webhook delivery and the scheduler."""
