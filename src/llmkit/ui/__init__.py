"""The web app (Gradio Blocks), one module per tab; start it with ``llmkit ui`` or ``llmkit.ui.app.launch()``.

Importing this package keeps Gradio offline: these variables must be set before gradio itself is imported.
"""
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no analytics calls
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
