"""The llmkit web app: ``create_app(settings)`` builds the Gradio Blocks, ``launch(settings)`` serves it.

>>> from llmkit.ui.app import UiSettings, launch
>>> launch(UiSettings(port=7860))          # doctest: +SKIP  (what `llmkit ui` and `make run` do)

Each tab lives in its own module and is a thin shell over a task object; long jobs run in ``JobManager``
threads. Nothing here reaches the network: analytics are off and there is no share link unless asked for.
"""
from __future__ import annotations

from .common import CSS, UiContext, UiSettings

__all__ = ["UiSettings", "create_app", "launch"]


def create_app(settings: UiSettings | None = None, ctx: UiContext | None = None):
    import gradio as gr

    from . import chat, classify, finetune, jobview, models, multitask, transcribe

    ctx = ctx or UiContext(settings or UiSettings())
    with gr.Blocks(title="llmkit", analytics_enabled=False) as demo:
        gr.Markdown("# llmkit\nRun, adapt and compare open-source language and speech models, offline.")
        jobview.job_states(ctx)  # before the tabs: a tab's contents mount only when it is first opened
        with gr.Tabs():
            with gr.Tab("Classify", id="classify"):
                classify_model, refresh_models = classify.build(ctx)
            with gr.Tab("Chat", id="chat"):
                chat.build(ctx)
            with gr.Tab("Transcribe", id="transcribe"):
                transcribe.build(ctx, demo)
            with gr.Tab("Fine-tune", id="finetune"):
                finetune.build(ctx, demo, classify_model, refresh_models)
            with gr.Tab("Multi-task", id="multitask"):
                multitask.build(ctx, demo)
            with gr.Tab("Models", id="models"):
                models.build(ctx, demo)
    demo.llmkit = ctx  # tests and callers reach the jobs through the app
    return demo


def launch(settings: UiSettings | None = None, *, block: bool = True):
    """Serve the app. ``block=False`` returns at once (tests); the server then runs in a thread."""
    settings = settings or UiSettings()
    demo = create_app(settings)
    demo.queue(default_concurrency_limit=settings.concurrency)
    import gradio as gr

    demo.launch(server_name=settings.host, server_port=settings.port, share=settings.share, inbrowser=False,
                prevent_thread_lock=not block, show_error=False, quiet=True, ssr_mode=False, css=CSS,
                theme=gr.themes.Default(), footer_links=[])
    return demo
