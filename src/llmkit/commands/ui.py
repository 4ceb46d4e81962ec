"""llmkit ui: the web app (Gradio) with every task, fine-tuning and the model catalog."""
from __future__ import annotations

HELP = "Start the web app: classify, chat, transcribe, fine-tune and compare models in the browser."
EXAMPLES = """\
  llmkit ui                         # http://127.0.0.1:7860
  LLMKIT_UI_AUTH=me:secret llmkit ui --host 0.0.0.0 --port 8080   # other machines, behind a login
  llmkit ui --allowed-hosts mybox.lan   # also answer to this name (besides localhost and IP addresses)
  llmkit ui --allow-any-model       # let the model pickers load any folder or hub id
"""


def add_arguments(p) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default: 127.0.0.1); any other needs --auth")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="create a public share link (off by default; needs --auth)")
    p.add_argument("--runs", default=None, help="folder for fine-tuned models (default: LLMKIT_HOME/runs)")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                   help="require this login on every page and API route (default: $LLMKIT_UI_AUTH)")
    p.add_argument("--allowed-hosts", action="append", default=[], metavar="NAME[,NAME]",
                   help="Host names to answer besides localhost and IP addresses (`*`: any); others get 403")
    p.add_argument("--allow-any-model", action="store_true",
                   help="let the model pickers load any folder or hub id, not just catalog models and the runs folder")
    from ..providers import add_remote_flags

    add_remote_flags(p)


def run(args) -> int:
    from ..providers import remote_from_args
    from ..ui.app import UiSettings, access, launch  # light: gradio is imported when the app is built

    remote_from_args(args)

    hosts = tuple(h for value in args.allowed_hosts for h in value.split(",") if h.strip())
    settings = UiSettings(host=args.host, port=args.port, share=args.share, runs_dir=args.runs,
                          allowed_hosts=hosts, allow_any_model=args.allow_any_model,
                          **({"auth": args.auth} if args.auth else {}))  # else the field reads LLMKIT_UI_AUTH
    access(settings)  # refuse before announcing anything (and before the slow gradio import)
    try:
        import gradio  # noqa: F401
    except ImportError:
        from ..errors import EngineUnavailableError

        raise EngineUnavailableError("the web app needs gradio: `pip install 'llmkit[ui]'`.") from None
    print(f"llmkit: web app on http://{args.host}:{args.port} (Ctrl+C to stop)")
    launch(settings)
    return 0
