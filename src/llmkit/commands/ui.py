"""llmkit ui: the web app (Gradio) with every task, fine-tuning and the model catalog."""
from __future__ import annotations

HELP = "Start the web app: classify, chat, transcribe, fine-tune and compare models in the browser."
EXAMPLES = """\
  llmkit ui                         # http://127.0.0.1:7860
  llmkit ui --host 0.0.0.0 --port 8080
  llmkit ui --share                 # also a public Gradio share link (needs the network)
"""


def add_arguments(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="create a public share link (off by default)")
    p.add_argument("--runs", default=None, help="folder for fine-tuned models (default: LLMKIT_HOME/runs)")


def run(args) -> int:
    try:
        from ..ui.app import UiSettings, launch
        import gradio  # noqa: F401
    except ImportError:
        from ..errors import EngineUnavailableError

        raise EngineUnavailableError("the web app needs gradio: `pip install 'llmkit[ui]'`.") from None
    print(f"llmkit: web app on http://{args.host}:{args.port} (Ctrl+C to stop)")
    launch(UiSettings(host=args.host, port=args.port, share=args.share, runs_dir=args.runs))
    return 0
