"""The SciGenBench Space: explore the benchmark, run ImgCoder, score an image, read the leaderboard.

Run it with ``scigenbench app`` or, as a Hugging Face Space's ``app_file``, with ``python app.py``. Models come
from the environment (Space secrets are environment variables): ``SCIGENBENCH_BACKBONE`` (ImgCoder's backbone;
offline default: the mini set's ``replay`` recording), ``SCIGENBENCH_JUDGE`` (offline default: the ``ocr``
proxy), ``SCIGENBENCH_RESULTS`` (result folders for the leaderboard), ``SCIGENBENCH_DATA_DIR`` (a local copy of
the upstream data: enables the full SciGen and SeePhys problems in Explore).

The logic lives in :mod:`scigenbench.app.core` (no Gradio); this module only lays out components and wires
events. Every event runs through the Gradio queue with a concurrency limit, and per-visitor results travel in
the event's inputs/outputs, never in module state.
"""

from __future__ import annotations

import io
import logging
import os
from typing import Any

from scigenbench.app import core
from scigenbench.app.core import ALL, Settings

logger = logging.getLogger("scigenbench.app")

#: events allowed to run at once per event listener (rendering and OCR are CPU-bound)
def _concurrency_limit(raw: str | None) -> int:
    """Events of each kind run at once (``$SCIGENBENCH_APP_CONCURRENCY``, default 2); a bad value says so."""
    try:
        return max(1, int(raw or 2))
    except ValueError:
        raise ValueError(f"SCIGENBENCH_APP_CONCURRENCY must be a whole number, got {raw!r}") from None


CONCURRENCY_LIMIT = _concurrency_limit(os.environ.get("SCIGENBENCH_APP_CONCURRENCY"))
MAX_QUEUE = 64
#: largest upload Gradio accepts (bigger files are refused by the upload route itself)
MAX_UPLOAD = "20mb"

INTRO = """
# SciGenBench · ImgCoder

**SciGenBench** asks a model to draw the figure of a science problem (1,057 SciGen problems over 25 image types in
math, physics, chemistry, biology and general charts, plus 330 SeePhys problems with reference images).
A figure is good when it shows what the problem needs: each problem carries *quizzes* that a vision model must
answer **from the image alone**.

**ImgCoder** draws by writing code: an LLM *understands* the problem, *plans* the figure (elements, layout,
labels, what must not be shown), writes matplotlib or TikZ, the program is *rendered in a sandbox*, the picture
is *verified* against the plan, and failures are fed back for *repair*.

**Explore** the problems · **Generate** a figure with ImgCoder · **Score** any image with the quiz metric ·
read the **Leaderboard**.
"""

#: upstream questions use $...$ inline math (SeePhys) and $$...$$ blocks
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

CSS = """
#intro p { margin-bottom: 0.4em; }
"""


def _settings() -> Settings:
    return Settings.from_env()


# --- event handlers (module-level so they are testable; all state comes in through arguments) ---------------

def on_source_change(source: str, domain: str, image_type: str, text: str):
    import gradio as gr

    settings = _settings()
    try:
        problems = core.load_source(source, settings)
    except Exception as exc:  # noqa: BLE001
        message = core.friendly_error(f"The {source} problems could not be loaded", exc)
        return gr.update(choices=[], value=None), message, gr.update(choices=[]), gr.update(choices=[])
    all_choices = [core.problem_choice(r) for r in problems.index]
    first = all_choices[0][1] if all_choices else None
    explore_dd, count_md = _filtered_dropdown(problems, domain, image_type, text)
    return (explore_dd, count_md, gr.update(choices=all_choices, value=first),
            gr.update(choices=all_choices, value=first))


def on_domain_change(source: str, domain: str, text: str):
    import gradio as gr

    types = [ALL, *core.image_types_for(domain)]
    try:
        problems = core.load_source(source, _settings())
    except Exception as exc:  # noqa: BLE001
        return gr.update(), gr.update(), core.friendly_error(f"The {source} problems could not be loaded", exc)
    dropdown, count = _filtered_dropdown(problems, domain, ALL, text)
    return gr.update(choices=types, value=ALL), dropdown, count


def on_filter_change(source: str, domain: str, image_type: str, text: str):
    import gradio as gr

    try:
        problems = core.load_source(source, _settings())
    except Exception as exc:  # noqa: BLE001
        return gr.update(), core.friendly_error(f"The {source} problems could not be loaded", exc)
    return _filtered_dropdown(problems, domain, image_type, text)


def _filtered_dropdown(problems: core.ProblemSource, domain: str, image_type: str, text: str):
    import gradio as gr

    rows = core.filter_problems(problems.index, domain, image_type, text)
    choices = [core.problem_choice(r) for r in rows]
    count = f"**{len(rows)}** of {len(problems)} {problems.name} problems match."
    return gr.update(choices=choices, value=choices[0][1] if choices else None), count


def on_problem_select(source: str, problem_id: str | None, show_answers: bool):
    """Show the problem; the Generate and Score tabs follow the selection."""
    import gradio as gr

    if not problem_id:
        return ("*No problem matches these filters.*", gr.update(value=None, visible=False), "", gr.update(),
                gr.update())
    try:
        problem = core.load_source(source, _settings()).get(problem_id)
    except Exception as exc:  # noqa: BLE001
        return (core.friendly_error("The problem could not be read", exc), gr.update(visible=False), "",
                gr.update(), gr.update())
    image = problem.get("image")
    note = ("SeePhys reference image." if image is not None else
            "*No reference image: SciGen and mini problems come as text only — generate one in the Generate tab.*")
    return (core.problem_markdown(problem, show_answers), gr.update(value=image, visible=image is not None), note,
            gr.update(value=problem_id), gr.update(value=problem_id))


def on_answers_toggle(source: str, problem_id: str | None, show_answers: bool):
    return on_problem_select(source, problem_id, show_answers)[:3]


def on_generate(source: str, problem_id: str | None, typed_text: str):
    """Run ImgCoder; also hands the image and the problem to the Score tab."""
    import gradio as gr

    settings = _settings()
    if (typed_text or "").strip():
        try:
            problem = core.typed_problem(typed_text)
        except ValueError as exc:  # too long: say so, never send it to the backbone
            return _generation_outputs(core.GenerationView(ok=False, status_md=f"**The typed problem cannot be "
                                                                             f"used:** {exc}."), gr)
        return _generation_outputs(core.run_imgcoder(problem, settings), gr)
    try:
        if problem_id:
            problem = core.load_source(source, settings).get(problem_id)
        else:
            return _generation_outputs(core.GenerationView(ok=False, status_md="**Pick a problem or type one.**"),
                                       gr)
    except Exception as exc:  # noqa: BLE001
        return _generation_outputs(core.GenerationView(ok=False, status_md=core.friendly_error(
            "The problem could not be read", exc)), gr)
    return _generation_outputs(core.run_imgcoder(problem, settings), gr)


def _generation_outputs(view: core.GenerationView, gr: Any):
    image = _png_to_pil(view.png)
    code_language = "latex" if view.language == "tikz" else "python"
    score_image = gr.update(value=image) if image is not None else gr.update()
    score_problem = gr.update(value=view.problem_id) if image is not None and view.problem_id and not \
        view.problem_id.startswith("typed-") else gr.update()
    return (image, view.status_md, view.plan, gr.update(value=view.code, language=code_language),
            score_image, score_problem)


def _png_to_pil(png: bytes | None):
    if not png:
        return None
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def on_score(source: str, problem_id: str | None, image: Any):
    settings = _settings()
    if not problem_id:
        return "**Pick the problem the image is for.**", []
    try:
        problem = core.load_source(source, settings).get(problem_id)
    except Exception as exc:  # noqa: BLE001
        return core.friendly_error("The problem could not be read", exc), []
    view = core.score_image(image, problem, settings)
    return view.summary_md, view.rows


def on_leaderboard():
    import gradio as gr

    view = core.leaderboard_view(_settings())
    domains = view.get("domains")
    return (view.get("message", ""), view.get("table"),
            gr.update(value=domains, visible=domains is not None),
            gr.update(value=view.get("plot"), visible=bool(view.get("plot"))),
            gr.update(value=view.get("radar"), visible=bool(view.get("radar"))))


# --- layout --------------------------------------------------------------------------------------------------

def build_app(settings: Settings | None = None):
    """The Space as a ``gr.Blocks`` (queue enabled with a per-event concurrency limit)."""
    import gradio as gr

    settings = settings or _settings()
    sources = core.available_sources(settings)
    mini = core.load_source("mini", settings)
    mini_choices = [core.problem_choice(r) for r in mini.index]
    first_id = mini_choices[0][1] if mini_choices else None

    with gr.Blocks(title="SciGenBench · ImgCoder", analytics_enabled=False) as demo:
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Tabs():
            with gr.Tab("Explore", id="explore", elem_id="tab-explore"):
                with gr.Row():
                    source = gr.Dropdown(sources, value="mini", label="Problems", elem_id="explore-source",
                                         info=None if len(sources) > 1 else
                                         f"the bundled mini set; set {core.DATA_DIR_ENV} for SciGen/SeePhys")
                    domain = gr.Dropdown([ALL, *_domains()], value=ALL, label="Domain", elem_id="explore-domain")
                    image_type = gr.Dropdown([ALL, *core.image_types_for(None)], value=ALL, label="Image type",
                                             elem_id="explore-type")
                    search = gr.Textbox(label="Search text", placeholder="e.g. lens, orbit, titration",
                                        elem_id="explore-search")
                count = gr.Markdown(f"**{len(mini)}** of {len(mini)} mini problems match.", elem_id="explore-count")
                problem = gr.Dropdown(mini_choices, value=first_id, label="Problem", elem_id="explore-problem")
                show_answers = gr.Checkbox(False, label="Show answers (the problem's answer and each quiz's "
                                                        "correct option)", elem_id="explore-show-answers")
                with gr.Row():
                    with gr.Column(scale=3):
                        problem_md = gr.Markdown(elem_id="explore-problem-md", latex_delimiters=LATEX)
                    with gr.Column(scale=2):
                        reference = gr.Image(label="Reference image", visible=False, interactive=False,
                                             elem_id="explore-reference")
                        reference_note = gr.Markdown(elem_id="explore-reference-note")

            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                gr.Markdown(f"Backbone: {core.backbone_label(settings)}. Programs render only in the confined "
                            "sandbox (no network, no file system beyond the job, time and memory limits).")
                with gr.Row():
                    gen_problem = gr.Dropdown(mini_choices, value=first_id, label="Problem (from the Explore "
                                              "source)", elem_id="generate-problem", scale=3)
                    gen_text = gr.Textbox(label="…or type your own problem", lines=2, scale=2,
                                          max_length=core.MAX_TYPED_CHARS,
                                          elem_id="generate-text",
                                          placeholder="A 2 kg block rests on a 30° incline…")
                gen_button = gr.Button("Generate with ImgCoder", variant="primary", elem_id="generate-button")
                with gr.Row():
                    with gr.Column(scale=1):
                        gen_image = gr.Image(label="Rendered figure", type="pil", format="png", interactive=False,
                                             elem_id="generate-image")
                    with gr.Column(scale=1):
                        gen_status = gr.Markdown(elem_id="generate-status")
                with gr.Accordion("Plan (understanding and figure plan)", open=False):
                    gen_plan = gr.JSON(label="Plan", elem_id="generate-plan")
                with gr.Accordion("Code", open=False):
                    gen_code = gr.Code(language="python", label="Program", elem_id="generate-code")

            with gr.Tab("Score", id="score", elem_id="tab-score"):
                gr.Markdown(f"Judge: {core.judge_label(settings)}\n\nThe quiz metric asks each of the problem's "
                            "quizzes about the image alone; the score is the fraction answered correctly.")
                with gr.Row():
                    score_image = _upload_image_class()(label="Image to score (upload, paste, or generate one)", type="filepath",
                                           format="png", sources=["upload", "clipboard"], elem_id="score-image",
                                           image_mode=None)  # no conversion: size is checked before decoding
                    with gr.Column():
                        score_problem = gr.Dropdown(mini_choices, value=first_id, label="Problem the image is for",
                                                    elem_id="score-problem")
                        score_button = gr.Button("Score with the quiz metric", variant="primary",
                                                 elem_id="score-button")
                score_md = gr.Markdown(elem_id="score-summary")
                score_table = gr.Dataframe(headers=core.QUIZ_TABLE_HEADERS, interactive=False, wrap=True,
                                           elem_id="score-table")

            with gr.Tab("Leaderboard", id="leaderboard", elem_id="tab-leaderboard") as leaderboard_tab:
                leaderboard_md = gr.Markdown("*Loading…*", elem_id="leaderboard-note")
                leaderboard_table = gr.Dataframe(label="Overall (runs, then the paper's published rows)",
                                                 interactive=False, wrap=True, elem_id="leaderboard-table")
                leaderboard_domains = gr.Dataframe(label="Per domain (runs)", interactive=False, visible=False,
                                                   elem_id="leaderboard-domains")
                with gr.Row():
                    leaderboard_plot = gr.Image(label="Per domain", type="filepath", interactive=False,
                                                visible=False, elem_id="leaderboard-plot")
                    leaderboard_radar = gr.Image(label="Judge dimensions (0–2)", type="filepath",
                                                 interactive=False, visible=False, elem_id="leaderboard-radar")
                refresh = gr.Button("Refresh", elem_id="leaderboard-refresh")

        # --- wiring --- (generate, score and leaderboard are the public API; the rest is UI plumbing)
        limits = {"concurrency_limit": CONCURRENCY_LIMIT}
        plumbing = {**limits, "api_visibility": "undocumented"}
        filters = [source, domain, image_type, search]
        source.change(on_source_change, filters, [problem, count, gen_problem, score_problem], **plumbing)
        domain.input(on_domain_change, [source, domain, search], [image_type, problem, count], **plumbing)
        image_type.input(on_filter_change, filters, [problem, count], **plumbing)
        search.submit(on_filter_change, filters, [problem, count], **plumbing)
        shown = [problem_md, reference, reference_note]
        problem.change(on_problem_select, [source, problem, show_answers], [*shown, gen_problem, score_problem],
                       **plumbing)
        show_answers.change(on_answers_toggle, [source, problem, show_answers], shown, **plumbing)
        demo.load(on_answers_toggle, [source, problem, show_answers], shown, **plumbing)
        gen_button.click(on_generate, [source, gen_problem, gen_text],
                         [gen_image, gen_status, gen_plan, gen_code, score_image, score_problem],
                         api_name="generate", **limits)
        score_button.click(on_score, [source, score_problem, score_image], [score_md, score_table],
                           api_name="score", **limits)
        board = [leaderboard_md, leaderboard_table, leaderboard_domains, leaderboard_plot, leaderboard_radar]
        leaderboard_tab.select(on_leaderboard, None, board, api_name="leaderboard", **limits)
        refresh.click(on_leaderboard, None, board, **plumbing)

    demo.queue(max_size=MAX_QUEUE, default_concurrency_limit=CONCURRENCY_LIMIT)
    return demo


def _upload_image_class():
    """``gr.Image`` whose unreadable uploads (not an image, a decompression bomb, ...) reach the visitor as a
    readable message: Gradio decodes uploads before the event handler runs and, with ``show_error=False``, would
    only show a bare "Error" (and log a traceback)."""
    import gradio as gr

    class UploadImage(gr.Image):
        is_template = True  # rendered by the frontend's ordinary Image component

        def preprocess(self, payload):
            try:
                return super().preprocess(payload)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - PIL raises several types for non-images
                from PIL import Image

                why = ("the image has more pixels than the Space decodes" if isinstance(
                    exc, Image.DecompressionBombError) else "the file is not an image the Space can read")
                logger.info("upload refused: %s", type(exc).__name__)
                raise gr.Error(f"This upload cannot be scored: {why}; upload a PNG or JPEG of at most "
                               f"{core.MAX_SCORE_PIXELS:,} pixels.", print_exception=False) from None

    return UploadImage


def _domains() -> list[str]:
    from scigenbench.dataset import DOMAINS

    return list(DOMAINS)


def main(port: int | None = None, host: str | None = None) -> None:
    """Build and serve the Space (blocks until stopped).

    Args:
        port: TCP port (default ``$GRADIO_SERVER_PORT`` or 7860).
        host: interface to bind (default ``$GRADIO_SERVER_NAME`` or 127.0.0.1; a Space sets 0.0.0.0).
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # root at WARNING: HTTP client logs would print request URLs; the app's own messages are redacted
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logger.setLevel(logging.INFO)
    demo = build_app()
    port = port or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    host = host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    logger.info("SciGenBench Space on http://%s:%d", host, port)
    demo.launch(server_name=host, server_port=port, ssr_mode=False, show_error=False, css=CSS,
                footer_links=["gradio"], max_file_size=MAX_UPLOAD)


if __name__ == "__main__":
    main()
