"""search_worker."""
