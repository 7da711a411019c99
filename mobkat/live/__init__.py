"""Live channels: one realtime provider connection per session, committing into its history."""
