"""The llmkit web app: ``create_app(settings)`` builds the Gradio Blocks, ``launch(settings)`` serves it.

>>> from llmkit.ui.app import UiSettings, launch
>>> launch(UiSettings(port=7860))          # doctest: +SKIP  (what `llmkit ui` and `make run` do)

Each tab lives in its own module and is a thin shell over a task object (a task's tab is named in the task
table, ``llmkit.task_table``); long jobs run in ``JobManager`` threads. Nothing here reaches the network:
analytics are off and there is no share link unless asked for.

Who may reach the app is ``llmkit.netguard``'s rule, the same as ``llmkit serve``'s: requests whose Host header
names another site are refused (DNS rebinding), and anything beyond this machine needs a login (``auth``).
"""
from __future__ import annotations

from ..errors import InputError
from ..netguard import HostGuard, allowed_hosts, check_bind
from ..task_table import get
from .common import AUTH_FIX, CSS, UiContext, UiSettings

__all__ = ["UiSettings", "access", "create_app", "launch"]


def create_app(settings: UiSettings | None = None, ctx: UiContext | None = None):
    import gradio as gr

    from . import chat, classify, compare, finetune, jobview, models, multitask, transcribe

    ctx = ctx or UiContext(settings or UiSettings())
    with gr.Blocks(title="llmkit", analytics_enabled=False) as demo:
        gr.Markdown("# llmkit\nRun, adapt and compare open-source language and speech models, offline.")
        gr.HTML(chat.remote_status(), elem_id="remote-status")  # remote models allowed? redaction on or off
        jobview.job_states(ctx)  # before the tabs: a tab's contents mount only when it is first opened
        with gr.Tabs():
            with gr.Tab("Classify", id=get(classify.TASK).tab):
                classify_model, refresh_models = classify.build(ctx)
            with gr.Tab("Chat", id=get(chat.TASK).tab):
                chat.build(ctx)
            with gr.Tab("Compare", id="compare"):
                compare.build(ctx)
            with gr.Tab("Transcribe", id=get(transcribe.TASK).tab):
                transcribe.build(ctx, demo)
            with gr.Tab("Fine-tune", id="finetune"):
                finetune.build(ctx, demo, classify_model, refresh_models)
            with gr.Tab("Multi-task", id="multitask"):
                multitask.build(ctx, demo)
            with gr.Tab("Models", id="models"):
                models.build(ctx, demo)
    demo.llmkit = ctx  # tests and callers reach the jobs through the app
    return demo


def access(settings: UiSettings) -> frozenset[str]:
    """Refuse settings that open the app to others without a login; return the Host names it answers to."""
    check_bind(settings.host, bool(settings.auth), AUTH_FIX)
    if settings.share and not settings.auth:  # a share link publishes the app on the internet
        raise InputError(f"--share makes the app public on the internet; add {AUTH_FIX}.")
    # Behind a share link the Host is the tunnel's name, so only the login guards it.
    return frozenset({"*"}) if settings.share else allowed_hosts(settings.host, settings.allowed_hosts)


def launch(settings: UiSettings | None = None, *, block: bool = True):
    """Serve the app. ``block=False`` returns at once (tests); the server then runs in a thread."""
    settings = settings or UiSettings()
    allowed = access(settings)
    demo = create_app(settings)
    demo.queue(default_concurrency_limit=settings.concurrency)
    import gradio as gr
    from starlette.middleware import Middleware

    # Gradio builds its FastAPI app inside launch(); app_kwargs reach its constructor, so HostGuard wraps every
    # route, the queue's and the login page's included.
    demo.launch(server_name=settings.host, server_port=settings.port, share=settings.share, inbrowser=False,
                prevent_thread_lock=not block, show_error=False, quiet=True, ssr_mode=False, css=CSS,
                theme=gr.themes.Default(), footer_links=[], auth=settings.credentials(),
                app_kwargs={"middleware": [Middleware(HostGuard, allowed=allowed)]})
    return demo
