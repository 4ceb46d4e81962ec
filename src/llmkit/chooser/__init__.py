"""The model chooser: measure models on this machine (``bench``), read their eval scores (``quality``) and rank
them for a task under the user's constraints (``recommend``). ``llmkit models bench|recommend`` and the web app's
Models tab are shells over these modules."""
