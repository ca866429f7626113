"""PNG figures the API and the CLI serve (matplotlib, headless)."""
