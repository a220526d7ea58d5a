"""Settings, storage and database plumbing shared by the workers, the API and the CLI."""
