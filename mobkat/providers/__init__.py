"""Model providers, all reached through the ``openai`` package."""
